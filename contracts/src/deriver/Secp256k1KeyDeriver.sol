// SPDX-License-Identifier: MIT OR Apache-2.0
// Compiled with solc 0.6.12 (scripts/build.mjs): the npm package
// elliptic-curve-solidity 0.2.4 declares `pragma solidity >=0.5.3 <0.7.0`, so
// it cannot be part of the solc 0.8 compilation of the other contracts. This
// contract is the smallest possible wrapper around it; it does no curve
// arithmetic of its own.
pragma solidity 0.6.12;

import "elliptic-curve-solidity/contracts/EllipticCurve.sol";

/// @title Secp256k1KeyDeriver
/// @notice PKP key derivation `PK = PK_root + tweak·G` on secp256k1, computed
///         with Witnet's `EllipticCurve` library (npm `elliptic-curve-solidity`).
///         Stateless and pure; PKPNFT calls it (the role of Lit's key-deriver
///         precompile) and cross-checks every result with the ecrecover
///         precompile.
contract Secp256k1KeyDeriver {
  uint256 public constant GX = 0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798;
  uint256 public constant GY = 0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8;
  uint256 public constant AA = 0;
  uint256 public constant BB = 7;
  uint256 public constant PP = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F;
  uint256 public constant NN = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

  /// @notice Whether (x, y) is an affine point of secp256k1 (0 < x, y < p).
  function isOnCurve(uint256 x, uint256 y) external pure returns (bool) {
    return EllipticCurve.isOnCurve(x, y, AA, BB, PP);
  }

  /// @notice root + tweak·G in affine coordinates, for a root on the curve
  ///         and 0 < tweak < n. Reverts if the sum is the point at infinity.
  function derive(uint256 rootX, uint256 rootY, uint256 tweak) external pure returns (uint256 x, uint256 y) {
    require(tweak != 0 && tweak < NN, "tweak out of range");
    require(EllipticCurve.isOnCurve(rootX, rootY, AA, BB, PP), "root not on curve");
    (uint256 tx_, uint256 ty) = EllipticCurve.ecMul(tweak, GX, GY, AA, PP);
    (x, y) = EllipticCurve.ecAdd(rootX, rootY, tx_, ty, AA, PP);
    // ecAdd returns (0, 0) for the point at infinity, which is not on the curve.
    require(EllipticCurve.isOnCurve(x, y, AA, BB, PP), "derived point invalid");
  }
}
