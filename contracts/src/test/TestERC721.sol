// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.28;

/// @title TestERC721
/// @notice A minimal non-fungible token for Candela's access-control
/// condition tests: anyone may mint a fresh token id; `ownerOf` reverts for
/// tokens that do not exist, as ERC-721 requires.
contract TestERC721 {
    string public name;
    string public symbol;
    mapping(uint256 => address) private owners;
    mapping(address => uint256) private balances;

    event Transfer(address indexed from, address indexed to, uint256 indexed tokenId);

    constructor(string memory name_, string memory symbol_) {
        name = name_;
        symbol = symbol_;
    }

    /// Creates token `tokenId` for `to` (test helper, unrestricted).
    function mint(address to, uint256 tokenId) external {
        require(to != address(0), "zero address");
        require(owners[tokenId] == address(0), "exists");
        owners[tokenId] = to;
        balances[to] += 1;
        emit Transfer(address(0), to, tokenId);
    }

    function ownerOf(uint256 tokenId) external view returns (address) {
        address owner = owners[tokenId];
        require(owner != address(0), "no such token");
        return owner;
    }

    function balanceOf(address owner) external view returns (uint256) {
        require(owner != address(0), "zero address");
        return balances[owner];
    }

    function transferFrom(address from, address to, uint256 tokenId) external {
        require(owners[tokenId] == from && from == msg.sender, "not owner");
        require(to != address(0), "zero address");
        owners[tokenId] = to;
        balances[from] -= 1;
        balances[to] += 1;
        emit Transfer(from, to, tokenId);
    }
}
