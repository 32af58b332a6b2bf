// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.28;

/// @title UintSet
/// @notice An insertion-ordered set of uint256 with O(1) add / remove /
///         contains (removal swaps the last element into the hole).
library UintSet {
    struct Set {
        uint256[] values;
        /// 1-based position in `values`; 0 = absent.
        mapping(uint256 value => uint256) position;
    }

    function add(Set storage set, uint256 value) internal returns (bool) {
        if (set.position[value] != 0) return false;
        set.values.push(value);
        set.position[value] = set.values.length;
        return true;
    }

    function remove(Set storage set, uint256 value) internal returns (bool) {
        uint256 pos = set.position[value];
        if (pos == 0) return false;
        uint256 last = set.values.length;
        if (pos != last) {
            uint256 moved = set.values[last - 1];
            set.values[pos - 1] = moved;
            set.position[moved] = pos;
        }
        set.values.pop();
        delete set.position[value];
        return true;
    }

    function contains(Set storage set, uint256 value) internal view returns (bool) {
        return set.position[value] != 0;
    }

    function length(Set storage set) internal view returns (uint256) {
        return set.values.length;
    }

    function at(Set storage set, uint256 index) internal view returns (uint256) {
        return set.values[index];
    }
}
