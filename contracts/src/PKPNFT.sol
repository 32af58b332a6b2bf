// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.28;

import {ERC721Enumerable} from "./lib/ERC721Enumerable.sol";
import {Owned} from "./lib/Owned.sol";
import {HashToScalar} from "./lib/HashToScalar.sol";

/// @notice The part of PKPPermissions that PKPNFT calls.
interface IPKPPermissionsForNFT {
    function addPermittedAction(uint256 tokenId, bytes calldata ipfsCID, uint256[] calldata scopes) external;
}

/// @notice Named like Lit's interface so that the ABI's internalType
///         ("struct IPubkeyRouter.Signature[]") matches Lit's
///         `claimAndMint` and `checkNodeSignatures`.
interface IPubkeyRouter {
    struct Signature {
        bytes32 r;
        bytes32 s;
        uint8 v;
    }
}

/// @notice The part of Staking that PKPNFT reads to check node signatures.
interface IStakingForNFT {
    function isActiveValidatorByNodeAddress(address account) external view returns (bool);
    function currentValidatorCountForConsensus() external view returns (uint256);
}

/// @notice src/deriver/Secp256k1KeyDeriver.sol (solc 0.6.12, on the npm
///         library elliptic-curve-solidity).
interface ISecp256k1KeyDeriver {
    function isOnCurve(uint256 x, uint256 y) external pure returns (bool);
    function derive(uint256 rootX, uint256 rootY, uint256 tweak) external pure returns (uint256 x, uint256 y);
}

/// @title PKPNFT — Candela's programmable key pair registry
/// @notice One ERC-721 token per PKP, with Lit's external semantics:
///
///   - `mintNext(keyType)` mints the next PKP to the caller and returns its
///     token id; `mintGrantAndBurnNext(keyType, ipfsCID)` mints, permits the
///     Lit Action `ipfsCID` with scope 1 (sign anything) and burns, in one
///     transaction.
///   - `tokenId = uint256(keccak256(0x04 || x || y))`: keccak256 of the
///     65-byte uncompressed public key, as Lit computes it (its
///     PubkeyRouter, contracts-sdk and nodes; candela-crypto
///     `derive::token_id`). The PKP's Ethereum address is the low 20 bytes
///     of keccak256(x || y), as for any key.
///   - `getPubkey(tokenId)` returns those 65 bytes (with 0x04), and
///     `getEthAddress(tokenId)` the address of the key.
///
/// The registry, not the minter, chooses each PKP's key id
/// (`getNextDerivedKeyId`), and the public key is DERIVED ON-CHAIN from the
/// network root key: `PK = PK_root + hash_to_scalar(keyId)·G`, the same
/// additive tweak the nodes apply to their shares (candela-crypto
/// `derive::derive_public_key`, DST "candela-pkp-v1"). Lit does this step with
/// a key-deriver precompile on its own chain; here a key-deriver contract
/// (Witnet's EllipticCurve library) computes it and the ecrecover precompile
/// cross-checks it, so the contract runs on any EVM chain, and nobody can
/// register a key that is not a derivation of the root key. See
/// contracts/README.md.
contract PKPNFT is ERC721Enumerable, Owned {
    /// Key types. Lit's numbers where Lit has one (its CurveType: 2 =
    /// secp256k1, 3 = Ed25519, 10 = BLS12-381 with keys in G1); 11 is
    /// Candela's for BIP-340 taproot (Lit signs taproot with K256 keys).
    /// Every PKP's recorded key is its secp256k1 identity (token id, eth
    /// address); a key of another type is derived from the same key id on
    /// that curve by the nodes, and the PKP signs only with its type.
    uint256 public constant KEY_TYPE_ECDSA = 2;
    uint256 public constant KEY_TYPE_ED25519 = 3;
    uint256 public constant KEY_TYPE_BLS12381G1 = 10;
    uint256 public constant KEY_TYPE_K256_TAPROOT = 11;
    /// Lit's scope id "sign anything".
    uint256 public constant SCOPE_SIGN_ANYTHING = 1;
    /// Domain separation tag of the PKP tweak (candela-crypto `derive::PKP_DST`).
    bytes public constant PKP_DST = "candela-pkp-v1";
    /// secp256k1 group order n.
    uint256 private constant N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    /// The curve arithmetic (src/deriver/Secp256k1KeyDeriver.sol).
    ISecp256k1KeyDeriver private immutable _keyDeriver;

    struct PkpData {
        uint256 x; // public key, affine; x != 0 marks a known PKP
        uint256 y;
        bytes32 derivedKeyId;
        uint256 keyType;
    }

    bool private _rootSet;
    uint256 private _rootX;
    uint256 private _rootY;
    uint256 private _mintCounter;
    uint256 private _mintCost;
    address private _pkpPermissions;
    address private _staking;

    mapping(uint256 tokenId => PkpData) private _pkps;
    mapping(address ethAddress => uint256 tokenId) private _ethAddressToPkpId;
    mapping(bytes32 derivedKeyId => bool) private _claimed;

    event PKPMinted(uint256 indexed tokenId, bytes pubkey);
    /// Emitted once per PKP with everything a node needs to check the
    /// derivation (same shape as Lit's PubkeyRouter event of that name).
    event PubkeyRoutingDataSet(
        uint256 indexed tokenId, bytes pubkey, address stakingContract, uint256 keyType, bytes32 derivedKeyId
    );
    event MintCostSet(uint256 newMintCost);
    event Withdrew(uint256 amount);
    event RootPubkeySet(bytes pubkey);
    event PkpPermissionsAddressSet(address pkpPermissions);
    event StakingAddressSet(address staking);

    error UnsupportedKeyType(uint256 keyType);
    error WrongMintCost(uint256 sent, uint256 required);
    error RootPubkeyNotSet();
    error RootPubkeyLocked();
    error InvalidPubkey();
    error PkpPermissionsNotSet();
    error AlreadySet();
    error ZeroAddress();
    error DerivationMismatch();
    error InvalidKeyDeriver();
    error PkpCollision(uint256 tokenId);
    error WithdrawFailed();
    error StakingNotSet();
    error KeyAlreadyClaimed(bytes32 derivedKeyId);
    error InvalidClaimSignatures(bytes32 derivedKeyId);

    constructor(address initialOwner, address keyDeriver)
        ERC721Enumerable("Candela Programmable Keypair", "PKP")
        Owned(initialOwner)
    {
        if (keyDeriver.code.length == 0) revert InvalidKeyDeriver();
        _keyDeriver = ISecp256k1KeyDeriver(keyDeriver);
    }

    // ============================================================ admin

    /// @notice Set the network root public key (65-byte uncompressed SEC1).
    ///         Only possible before the first PKP is minted: every PKP key is a
    ///         function of it, so it can never change afterwards. Its x must
    ///         be below the group order n (the ecrecover cross-check uses it
    ///         as a signature's r; false for a random key with probability
    ///         ~2^-128).
    function setRootPubkey(bytes calldata pubkey) external onlyOwner {
        if (_mintCounter != 0) revert RootPubkeyLocked();
        (uint256 x, uint256 y) = _parseUncompressed(pubkey);
        if (x >= N) revert InvalidPubkey();
        _rootSet = true;
        _rootX = x;
        _rootY = y;
        emit RootPubkeySet(pubkey);
    }

    /// @notice Wire the PKPPermissions contract (once).
    function setPkpPermissionsAddress(address pkpPermissions) external onlyOwner {
        if (pkpPermissions == address(0)) revert ZeroAddress();
        if (_pkpPermissions != address(0)) revert AlreadySet();
        _pkpPermissions = pkpPermissions;
        emit PkpPermissionsAddressSet(pkpPermissions);
    }

    /// @notice Record the Staking (node set) contract this registry belongs to.
    function setStakingAddress(address staking) external onlyOwner {
        if (staking == address(0)) revert ZeroAddress();
        _staking = staking;
        emit StakingAddressSet(staking);
    }

    function setMintCost(uint256 newMintCost) external onlyOwner {
        _mintCost = newMintCost;
        emit MintCostSet(newMintCost);
    }

    function withdraw() external onlyOwner {
        uint256 withdrawAmount = address(this).balance;
        (bool sent,) = payable(msg.sender).call{value: withdrawAmount}("");
        if (!sent) revert WithdrawFailed();
        emit Withdrew(withdrawAmount);
    }

    // ============================================================ views

    function getRootPubkey() external view returns (bytes memory) {
        if (!_rootSet) return "";
        return abi.encodePacked(bytes1(0x04), _rootX, _rootY);
    }

    function getPkpPermissionsAddress() external view returns (address) {
        return _pkpPermissions;
    }

    function getStakingAddress() external view returns (address) {
        return _staking;
    }

    /// @notice The key-deriver contract (curve arithmetic) this registry uses.
    function getKeyDeriverAddress() external view returns (address) {
        return address(_keyDeriver);
    }

    function mintCost() external view returns (uint256) {
        return _mintCost;
    }

    /// @notice Whether `tokenId` is currently minted (not burned).
    function exists(uint256 tokenId) external view returns (bool) {
        return _exists(tokenId);
    }

    /// @notice Whether `tokenId` was minted and has since been burned. A
    ///         burned PKP still signs through its permitted actions, but its
    ///         permissions can never change.
    function isBurned(uint256 tokenId) external view returns (bool) {
        return _pkps[tokenId].x != 0 && !_exists(tokenId);
    }

    /// @notice The 65-byte uncompressed public key, with the 0x04 prefix
    ///         (empty for an unknown token). Burned PKPs keep their key.
    function getPubkey(uint256 tokenId) external view returns (bytes memory) {
        PkpData storage d = _pkps[tokenId];
        if (d.x == 0) return "";
        return abi.encodePacked(bytes1(0x04), d.x, d.y);
    }

    /// @notice The Ethereum address of the PKP (zero for an unknown token).
    function getEthAddress(uint256 tokenId) external view returns (address) {
        PkpData storage d = _pkps[tokenId];
        if (d.x == 0) return address(0);
        return _toAddress(d.x, d.y);
    }

    /// @notice The key id the registry chose for `tokenId` (zero if unknown).
    function getDerivedKeyId(uint256 tokenId) external view returns (bytes32) {
        return _pkps[tokenId].derivedKeyId;
    }

    /// @notice The PKP's key type (see KEY_TYPE_*), 0 for an unknown PKP.
    function getKeyType(uint256 tokenId) external view returns (uint256) {
        return _pkps[tokenId].keyType;
    }

    function ethAddressToPkpId(address ethAddress) external view returns (uint256) {
        return _ethAddressToPkpId[ethAddress];
    }

    /// @notice The key id the caller's next mint gets if it is mined in the
    ///         current block context (informational; like Lit's, it depends
    ///         on block data the caller does not control).
    function getNextDerivedKeyId() public view returns (bytes32) {
        return _keyId(_mintCounter + 1);
    }

    /// @notice The token id of a 65-byte uncompressed key (0x04 || x || y):
    ///         keccak256 of the 65 bytes, 0x04 included, as Lit computes it.
    function pubkeyToTokenId(bytes calldata pubkey) external view returns (uint256) {
        (uint256 x, uint256 y) = _parseUncompressed(pubkey);
        return _tokenId(x, y);
    }

    /// @notice Which formula token ids follow: 2 = keccak256 of the 65-byte
    ///         key with its 0x04 prefix (Lit's). Contracts without this
    ///         function used keccak256 of the 64 bytes; nodes refuse them.
    function tokenIdFormula() external pure returns (uint256) {
        return 2;
    }

    /// @notice EIP-191 hash of a 32-byte message (as Lit's `prefixed`).
    function prefixed(bytes32 hash) public pure returns (bytes32) {
        return keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", hash));
    }

    /// @notice Whether `signatures` are EIP-191 signatures of the 32-byte
    ///         `signedMessage` by at least the threshold of distinct active
    ///         node addresses of `stakingContractAddress` (Lit's check of a
    ///         key claim). Signatures of other signers do not count.
    function checkNodeSignatures(
        IPubkeyRouter.Signature[] calldata signatures,
        bytes memory signedMessage,
        address stakingContractAddress
    ) public view returns (bool) {
        if (signedMessage.length != 32 || stakingContractAddress.code.length == 0) return false;
        IStakingForNFT staking = IStakingForNFT(stakingContractAddress);
        bytes32 hash = prefixed(bytes32(signedMessage));
        address[] memory signers = new address[](signatures.length);
        uint256 valid = 0;
        for (uint256 i = 0; i < signatures.length; i++) {
            // low s only, as the nodes sign (no second form of a signature)
            if (uint256(signatures[i].s) > N / 2) continue;
            address signer = ecrecover(hash, signatures[i].v, signatures[i].r, signatures[i].s);
            if (signer == address(0) || !staking.isActiveValidatorByNodeAddress(signer)) continue;
            bool seen = false;
            for (uint256 j = 0; j < valid; j++) {
                if (signers[j] == signer) seen = true;
            }
            if (!seen) signers[valid++] = signer;
        }
        uint256 threshold = staking.currentValidatorCountForConsensus();
        return threshold != 0 && valid >= threshold;
    }

    /// @notice Whether the key id was minted by `claimAndMint`.
    function isClaimed(bytes32 derivedKeyId) external view returns (bool) {
        return _claimed[derivedKeyId];
    }

    /// @notice δ = hash_to_scalar(keyId) with DST "candela-pkp-v1".
    function keyTweak(bytes32 keyId) external pure returns (uint256) {
        return HashToScalar.hashToScalar(keyId, PKP_DST);
    }

    /// @notice PK_root + hash_to_scalar(keyId)·G, 65 bytes with 0x04.
    function computeDerivedPubkey(bytes32 keyId) external view returns (bytes memory) {
        (uint256 x, uint256 y) = _derive(keyId);
        return abi.encodePacked(bytes1(0x04), x, y);
    }

    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return super.supportsInterface(interfaceId);
    }

    // ========================================================= mutations

    /// @notice Mint the next PKP to the caller. `msg.value` must equal
    ///         `mintCost()`. Returns the token id.
    function mintNext(uint256 keyType) external payable returns (uint256) {
        uint256 tokenId = _mintDerived(keyType, msg.sender);
        return tokenId;
    }

    /// @notice Mint a PKP, permit the Lit Action `ipfsCID` (34-byte
    ///         base58-decoded multihash) with scope 1, and burn the token —
    ///         atomically. The PKP then signs only through that action, for
    ///         ever.
    function mintGrantAndBurnNext(uint256 keyType, bytes calldata ipfsCID) external payable returns (uint256) {
        address permissions = _pkpPermissions;
        if (permissions == address(0)) revert PkpPermissionsNotSet();
        // Minted to this contract, which is therefore the PKP owner for the
        // duration of the grant, then burned.
        uint256 tokenId = _mintDerived(keyType, address(this));
        uint256[] memory scopes = new uint256[](1);
        scopes[0] = SCOPE_SIGN_ANYTHING;
        IPKPPermissionsForNFT(permissions).addPermittedAction(tokenId, ipfsCID, scopes);
        _burn(tokenId);
        return tokenId;
    }

    /// @notice Mint the key an action claimed (`Lit.Actions.claimKey`, Lit's
    ///         v7 claim flow) to the caller: `derivedKeyId` is
    ///         keccak256("{actionCid}_{keyId}"), and `signatures` must hold
    ///         EIP-191 signatures of its 32 bytes by the wallets of at least
    ///         the threshold of distinct active nodes in `Staking`
    ///         (`checkNodeSignatures`). The PKP's key is derived from
    ///         `derivedKeyId` like any other, so the claim decides which key
    ///         it is, not the caller. Each key id is minted once, ever.
    function claimAndMint(uint256 keyType, bytes32 derivedKeyId, IPubkeyRouter.Signature[] calldata signatures)
        external
        payable
        returns (uint256)
    {
        if (keyType != KEY_TYPE_ECDSA) revert UnsupportedKeyType(keyType);
        if (_claimed[derivedKeyId]) revert KeyAlreadyClaimed(derivedKeyId);
        if (_staking == address(0)) revert StakingNotSet();
        if (!checkNodeSignatures(signatures, abi.encodePacked(derivedKeyId), _staking)) {
            revert InvalidClaimSignatures(derivedKeyId);
        }
        _claimed[derivedKeyId] = true;
        return _mintWithKeyId(keyType, derivedKeyId, msg.sender);
    }

    /// @notice Burn a PKP (owner or approved). Its permissions are frozen.
    function burn(uint256 tokenId) external {
        address owner_ = ownerOf(tokenId);
        if (!_isAuthorized(owner_, msg.sender, tokenId)) {
            revert ERC721InsufficientApproval(msg.sender, tokenId);
        }
        _burn(tokenId);
    }

    // ========================================================= internal

    function _keyId(uint256 counter) private view returns (bytes32) {
        return keccak256(
            abi.encode(block.chainid, address(this), counter, msg.sender, block.prevrandao, blockhash(block.number - 1))
        );
    }

    /// PK_root + δ·G by the key deriver, cross-checked with the ecrecover
    /// precompile (an independent secp256k1 implementation: the client's).
    function _derive(bytes32 keyId) private view returns (uint256 x, uint256 y) {
        if (!_rootSet) revert RootPubkeyNotSet();
        uint256 rx = _rootX;
        uint256 ry = _rootY;
        uint256 delta = HashToScalar.hashToScalar(keyId, PKP_DST);
        (x, y) = _keyDeriver.derive(rx, ry, delta);
        // ecrecover(h, v, r, s) = r⁻¹(s·R − h·G) with R the point of x = r and
        // parity v − 27. With R = PK_root, r = s = Rx (< n, setRootPubkey) and
        // h = −δ·Rx mod n it is R + δ·G: its address must be that of (x, y).
        uint256 h = N - mulmod(delta, rx, N);
        address expected = ecrecover(bytes32(h), uint8(27 + (ry & 1)), bytes32(rx), bytes32(rx));
        if (expected == address(0) || expected != _toAddress(x, y)) revert DerivationMismatch();
    }

    function _mintDerived(uint256 keyType, address to) private returns (uint256 tokenId) {
        if (
            keyType != KEY_TYPE_ECDSA && keyType != KEY_TYPE_ED25519 && keyType != KEY_TYPE_BLS12381G1
                && keyType != KEY_TYPE_K256_TAPROOT
        ) revert UnsupportedKeyType(keyType);
        return _mintWithKeyId(keyType, _keyId(_mintCounter + 1), to);
    }

    /// Mint the PKP of `keyId` to `to`; counts as a mint (which locks the
    /// root key).
    function _mintWithKeyId(uint256 keyType, bytes32 keyId, address to) private returns (uint256 tokenId) {
        if (msg.value != _mintCost) revert WrongMintCost(msg.value, _mintCost);
        ++_mintCounter;
        (uint256 x, uint256 y) = _derive(keyId);
        bytes memory pubkey = abi.encodePacked(bytes1(0x04), x, y);
        tokenId = _tokenId(x, y);
        if (_pkps[tokenId].x != 0) revert PkpCollision(tokenId);
        _pkps[tokenId] = PkpData({x: x, y: y, derivedKeyId: keyId, keyType: keyType});
        _ethAddressToPkpId[_toAddress(x, y)] = tokenId;
        emit PubkeyRoutingDataSet(tokenId, pubkey, _staking, keyType, keyId);
        if (to == address(this)) {
            _mint(to, tokenId); // about to be burned; no receiver hook
        } else {
            _safeMint(to, tokenId);
        }
        emit PKPMinted(tokenId, pubkey);
    }

    function _parseUncompressed(bytes calldata pubkey) private view returns (uint256 x, uint256 y) {
        if (pubkey.length != 65 || pubkey[0] != 0x04) revert InvalidPubkey();
        x = uint256(bytes32(pubkey[1:33]));
        y = uint256(bytes32(pubkey[33:65]));
        if (!_keyDeriver.isOnCurve(x, y)) revert InvalidPubkey();
    }

    /// The token id: keccak256 of the 65-byte 0x04 || x || y (Lit's formula).
    function _tokenId(uint256 x, uint256 y) private pure returns (uint256) {
        return uint256(keccak256(abi.encodePacked(bytes1(0x04), x, y)));
    }

    /// The Ethereum address of a public key: the low 20 bytes of keccak256(x || y).
    function _toAddress(uint256 x, uint256 y) private pure returns (address) {
        return address(uint160(uint256(keccak256(abi.encodePacked(x, y)))));
    }
}
