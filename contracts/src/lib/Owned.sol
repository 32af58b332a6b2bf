// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.28;

/// @title Owned
/// @notice Single-owner administration with the same external shape as the
///         owner facet of Lit's diamonds: `owner()` returns `owner_`,
///         `transferOwnership(_newOwner)`, the `OwnershipTransferred` event and
///         the `CallerNotOwner()` error.
abstract contract Owned {
    address private _owner;

    /// @notice The caller is not the contract owner.
    error CallerNotOwner();
    /// @notice The zero address cannot own the contract.
    error ZeroOwner();

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    constructor(address initialOwner) {
        if (initialOwner == address(0)) revert ZeroOwner();
        _owner = initialOwner;
        emit OwnershipTransferred(address(0), initialOwner);
    }

    modifier onlyOwner() {
        if (msg.sender != _owner) revert CallerNotOwner();
        _;
    }

    /// @notice The current owner (administrator) of this contract.
    function owner() public view returns (address owner_) {
        owner_ = _owner;
    }

    /// @notice Hand administration to `_newOwner`.
    function transferOwnership(address _newOwner) external onlyOwner {
        if (_newOwner == address(0)) revert ZeroOwner();
        emit OwnershipTransferred(_owner, _newOwner);
        _owner = _newOwner;
    }
}
