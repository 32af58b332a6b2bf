// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.28;

/// @title HashToScalar
/// @notice RFC 9380 `hash_to_field` for the secp256k1 scalar field Z_n with
///         `expand_message_xmd(SHA-256)`, L = 48, m = 1 — exactly k256's
///         `Secp256k1::hash_to_scalar::<ExpandMsgXmd<Sha256>>` that
///         candela-crypto's `derive::pkp_tweak` uses. Hashing (SHA-256
///         precompile) and one modular reduction; no curve arithmetic (that
///         is in src/deriver, on the npm library elliptic-curve-solidity).
library HashToScalar {
    /// secp256k1 group order n.
    uint256 internal constant N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    /// @notice hash_to_field(message, 1) over Z_n for a 32-byte message.
    function hashToScalar(bytes32 message, bytes memory dst) internal pure returns (uint256) {
        // DST_prime = DST || I2OSP(len(DST), 1)   (dst.length < 256 assumed)
        bytes memory dstPrime = abi.encodePacked(dst, uint8(dst.length));
        // b_0 = H(Z_pad || msg || I2OSP(48, 2) || I2OSP(0, 1) || DST_prime), Z_pad = 64 zero bytes
        bytes32 b0 = sha256(abi.encodePacked(bytes32(0), bytes32(0), message, uint16(48), uint8(0), dstPrime));
        // b_1 = H(b_0 || I2OSP(1, 1) || DST_prime)
        bytes32 b1 = sha256(abi.encodePacked(b0, uint8(1), dstPrime));
        // b_2 = H(strxor(b_0, b_1) || I2OSP(2, 1) || DST_prime)
        bytes32 b2 = sha256(abi.encodePacked(b0 ^ b1, uint8(2), dstPrime));
        // uniform_bytes = (b_1 || b_2)[0..48]; OS2IP(uniform_bytes) mod n
        uint256 hi = uint256(b1);
        uint256 lo = uint256(b2) >> 128;
        return addmod(mulmod(hi, 1 << 128, N), lo, N);
    }
}
