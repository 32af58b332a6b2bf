// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.28;

/// @title TestERC1155
/// @notice A minimal multi-token for Candela's access-control condition
/// tests: anyone may mint; only `balanceOf(account, id)` matters.
contract TestERC1155 {
    mapping(uint256 => mapping(address => uint256)) private balances;

    event TransferSingle(
        address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value
    );

    /// Creates `amount` of token `id` for `to` (test helper, unrestricted).
    function mint(address to, uint256 id, uint256 amount) external {
        balances[id][to] += amount;
        emit TransferSingle(msg.sender, address(0), to, id, amount);
    }

    function balanceOf(address account, uint256 id) external view returns (uint256) {
        return balances[id][account];
    }
}
