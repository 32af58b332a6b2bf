// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.28;

import {Owned} from "./lib/Owned.sol";
import {UintSet} from "./lib/UintSet.sol";

/// @notice Named like Lit's storage library so that the ABI's internalType
///         ("struct LibPKPPermissionsStorage.AuthMethod") matches Lit's.
library LibPKPPermissionsStorage {
    struct AuthMethod {
        uint256 authMethodType;
        bytes id;
        bytes userPubkey;
    }
}

/// @notice The part of PKPNFT that PKPPermissions reads.
interface IPKPNFTForPermissions {
    function ownerOf(uint256 tokenId) external view returns (address);
    function exists(uint256 tokenId) external view returns (bool);
    function isBurned(uint256 tokenId) external view returns (bool);
    function getPubkey(uint256 tokenId) external view returns (bytes memory);
    function getEthAddress(uint256 tokenId) external view returns (address);
}

/// @title PKPPermissions — who may use each PKP
/// @notice Lit's permission model, with Lit's function names and ABI:
///
///   Every permission is an auth method `{authMethodType, id, userPubkey}`
///   identified by `authMethodId = uint256(keccak256(abi.encode(authMethodType, id)))`.
///   A permitted Lit Action is the auth method of type 2 (ACTION) whose id is
///   the 34-byte base58-decoded IPFS multihash (CIDv0); a permitted address is
///   type 1 (ADDRESS) with id = abi.encodePacked(address) (20 bytes). Each
///   (token, auth method) pair carries a set of scope ids (0 = none,
///   1 = sign anything, 2 = personal sign; any uint256 is storable).
///
///   Only the current PKP owner may change a token's permissions. The owner of
///   a live token is implicitly permitted: `isPermittedAddress(id, owner)` is
///   true and `getPermittedAddresses` lists the owner first, as Lit does. A
///   burned PKP (see PKPNFT.mintGrantAndBurnNext) has no owner, so every
///   mutation on it reverts with `PKPBurned` and its permissions are frozen.
///
///   Deliberate differences from Lit (all stricter, none changes a
///   successful call's effect on the read functions Lit's SDK uses):
///   - type 0 (NULLMETHOD) is refused; ADDRESS ids must be 20 bytes; ACTION
///     ids must be a 34-byte sha2-256 multihash (0x12 0x20 || digest);
///   - removing an auth method also clears its scopes on that token (Lit
///     leaves the old bits, which re-adding would resurrect);
///   - the scope events carry the auth method type (Lit's sometimes carry the
///     auth method id in that field).
contract PKPPermissions is Owned {
    using UintSet for UintSet.Set;

    uint256 public constant AUTH_METHOD_TYPE_ADDRESS = 1;
    uint256 public constant AUTH_METHOD_TYPE_ACTION = 2;
    uint256 public constant AUTH_METHOD_TYPE_WEBAUTHN = 3;

    IPKPNFTForPermissions private immutable _pkpNft;

    /// authMethodId => the auth method (global, like Lit: the latest userPubkey wins,
    /// except WebAuthn whose pubkey is pinned by its first registration).
    mapping(uint256 authMethodId => LibPKPPermissionsStorage.AuthMethod) private _authMethods;
    /// tokenId => permitted authMethodIds
    mapping(uint256 tokenId => UintSet.Set) private _permitted;
    /// authMethodId => tokenIds that permit it
    mapping(uint256 authMethodId => UintSet.Set) private _authMethodToPkpIds;
    /// tokenId => authMethodId => scope generation (bumped on removal, which clears the scopes)
    mapping(uint256 tokenId => mapping(uint256 authMethodId => uint256)) private _scopeGeneration;
    /// tokenId => authMethodId => generation => scopeId => permitted
    mapping(uint256 => mapping(uint256 => mapping(uint256 => mapping(uint256 => bool)))) private _scopes;

    event PermittedAuthMethodAdded(uint256 indexed tokenId, uint256 authMethodType, bytes id, bytes userPubkey);
    event PermittedAuthMethodRemoved(uint256 indexed tokenId, uint256 authMethodType, bytes id);
    event PermittedAuthMethodScopeAdded(uint256 indexed tokenId, uint256 authMethodType, bytes id, uint256 scopeId);
    event PermittedAuthMethodScopeRemoved(uint256 indexed tokenId, uint256 authMethodType, bytes id, uint256 scopeId);

    /// The token was never minted.
    error UnknownPKP(uint256 tokenId);
    /// The token was burned: its permissions are immutable.
    error PKPBurned(uint256 tokenId);
    /// The caller does not own the token.
    error NotPKPOwner(uint256 tokenId, address caller);
    error InvalidAuthMethodType(uint256 authMethodType);
    error InvalidAddressId(bytes id);
    error InvalidIpfsCID(bytes ipfsCID);
    error WebAuthnPubkeyMismatch();
    error LengthMismatch();

    constructor(address initialOwner, address pkpNft) Owned(initialOwner) {
        _pkpNft = IPKPNFTForPermissions(pkpNft);
    }

    modifier onlyPKPOwner(uint256 tokenId) {
        _checkPKPOwner(tokenId);
        _;
    }

    // ============================================================ views

    function getPkpNftAddress() external view returns (address) {
        return address(_pkpNft);
    }

    function getPubkey(uint256 tokenId) external view returns (bytes memory) {
        return _pkpNft.getPubkey(tokenId);
    }

    function getEthAddress(uint256 tokenId) external view returns (address) {
        return _pkpNft.getEthAddress(tokenId);
    }

    /// @notice uint256(keccak256(abi.encode(authMethodType, id))).
    function getAuthMethodId(uint256 authMethodType, bytes memory id) public pure returns (uint256) {
        return uint256(keccak256(abi.encode(authMethodType, id)));
    }

    function getUserPubkeyForAuthMethod(uint256 authMethodType, bytes calldata id)
        external
        view
        returns (bytes memory)
    {
        return _authMethods[getAuthMethodId(authMethodType, id)].userPubkey;
    }

    function getTokenIdsForAuthMethod(uint256 authMethodType, bytes calldata id)
        external
        view
        returns (uint256[] memory)
    {
        return _authMethodToPkpIds[getAuthMethodId(authMethodType, id)].values;
    }

    function getPermittedAuthMethods(uint256 tokenId)
        external
        view
        returns (LibPKPPermissionsStorage.AuthMethod[] memory)
    {
        UintSet.Set storage set = _permitted[tokenId];
        uint256 n = set.length();
        LibPKPPermissionsStorage.AuthMethod[] memory all = new LibPKPPermissionsStorage.AuthMethod[](n);
        for (uint256 i = 0; i < n; i++) {
            all[i] = _authMethods[set.at(i)];
        }
        return all;
    }

    /// @notice Scope ids 0 .. maxScopeId-1 of one auth method on one token.
    function getPermittedAuthMethodScopes(uint256 tokenId, uint256 authMethodType, bytes calldata id, uint256 maxScopeId)
        external
        view
        returns (bool[] memory)
    {
        uint256 authMethodId = getAuthMethodId(authMethodType, id);
        mapping(uint256 => bool) storage scopes =
            _scopes[tokenId][authMethodId][_scopeGeneration[tokenId][authMethodId]];
        bool[] memory all = new bool[](maxScopeId);
        for (uint256 i = 0; i < maxScopeId; i++) {
            all[i] = scopes[i];
        }
        return all;
    }

    function isPermittedAuthMethodScopePresent(uint256 tokenId, uint256 authMethodType, bytes calldata id, uint256 scopeId)
        external
        view
        returns (bool)
    {
        uint256 authMethodId = getAuthMethodId(authMethodType, id);
        return _scopes[tokenId][authMethodId][_scopeGeneration[tokenId][authMethodId]][scopeId];
    }

    /// @notice The permitted Lit Actions (multihash bytes) of a token.
    function getPermittedActions(uint256 tokenId) external view returns (bytes[] memory) {
        UintSet.Set storage set = _permitted[tokenId];
        uint256 n = set.length();
        uint256 count = 0;
        for (uint256 i = 0; i < n; i++) {
            if (_authMethods[set.at(i)].authMethodType == AUTH_METHOD_TYPE_ACTION) count++;
        }
        bytes[] memory actions = new bytes[](count);
        uint256 j = 0;
        for (uint256 i = 0; i < n; i++) {
            LibPKPPermissionsStorage.AuthMethod storage am = _authMethods[set.at(i)];
            if (am.authMethodType == AUTH_METHOD_TYPE_ACTION) actions[j++] = am.id;
        }
        return actions;
    }

    /// @notice The permitted addresses of a token; the owner of a live
    ///         (unburned) token comes first, as in Lit.
    function getPermittedAddresses(uint256 tokenId) external view returns (address[] memory) {
        UintSet.Set storage set = _permitted[tokenId];
        uint256 n = set.length();
        uint256 count = 0;
        for (uint256 i = 0; i < n; i++) {
            if (_authMethods[set.at(i)].authMethodType == AUTH_METHOD_TYPE_ADDRESS) count++;
        }
        bool live = _pkpNft.exists(tokenId);
        address[] memory addrs = new address[](live ? count + 1 : count);
        uint256 j = 0;
        if (live) addrs[j++] = _pkpNft.ownerOf(tokenId);
        for (uint256 i = 0; i < n; i++) {
            LibPKPPermissionsStorage.AuthMethod storage am = _authMethods[set.at(i)];
            if (am.authMethodType == AUTH_METHOD_TYPE_ADDRESS) {
                addrs[j++] = address(bytes20(am.id));
            }
        }
        return addrs;
    }

    function isPermittedAuthMethod(uint256 tokenId, uint256 authMethodType, bytes memory id)
        public
        view
        returns (bool)
    {
        return _permitted[tokenId].contains(getAuthMethodId(authMethodType, id));
    }

    function isPermittedAction(uint256 tokenId, bytes calldata ipfsCID) external view returns (bool) {
        return isPermittedAuthMethod(tokenId, AUTH_METHOD_TYPE_ACTION, ipfsCID);
    }

    /// @notice True for an explicitly permitted address and for the owner of
    ///         a live token.
    function isPermittedAddress(uint256 tokenId, address user) external view returns (bool) {
        if (isPermittedAuthMethod(tokenId, AUTH_METHOD_TYPE_ADDRESS, abi.encodePacked(user))) return true;
        return _pkpNft.exists(tokenId) && _pkpNft.ownerOf(tokenId) == user;
    }

    // ========================================================= mutations

    function addPermittedAuthMethod(
        uint256 tokenId,
        LibPKPPermissionsStorage.AuthMethod memory authMethod,
        uint256[] memory scopes
    ) public onlyPKPOwner(tokenId) {
        _addAuthMethod(tokenId, authMethod, scopes);
    }

    function removePermittedAuthMethod(uint256 tokenId, uint256 authMethodType, bytes memory id)
        public
        onlyPKPOwner(tokenId)
    {
        _removeAuthMethod(tokenId, authMethodType, id);
    }

    function addPermittedAuthMethodScope(uint256 tokenId, uint256 authMethodType, bytes calldata id, uint256 scopeId)
        external
        onlyPKPOwner(tokenId)
    {
        uint256 authMethodId = getAuthMethodId(authMethodType, id);
        _scopes[tokenId][authMethodId][_scopeGeneration[tokenId][authMethodId]][scopeId] = true;
        emit PermittedAuthMethodScopeAdded(tokenId, authMethodType, id, scopeId);
    }

    function removePermittedAuthMethodScope(uint256 tokenId, uint256 authMethodType, bytes calldata id, uint256 scopeId)
        external
        onlyPKPOwner(tokenId)
    {
        uint256 authMethodId = getAuthMethodId(authMethodType, id);
        _scopes[tokenId][authMethodId][_scopeGeneration[tokenId][authMethodId]][scopeId] = false;
        emit PermittedAuthMethodScopeRemoved(tokenId, authMethodType, id, scopeId);
    }

    function addPermittedAction(uint256 tokenId, bytes calldata ipfsCID, uint256[] calldata scopes)
        external
        onlyPKPOwner(tokenId)
    {
        _addAuthMethod(tokenId, LibPKPPermissionsStorage.AuthMethod(AUTH_METHOD_TYPE_ACTION, ipfsCID, ""), scopes);
    }

    function removePermittedAction(uint256 tokenId, bytes calldata ipfsCID) external onlyPKPOwner(tokenId) {
        _removeAuthMethod(tokenId, AUTH_METHOD_TYPE_ACTION, ipfsCID);
    }

    function addPermittedAddress(uint256 tokenId, address user, uint256[] calldata scopes)
        external
        onlyPKPOwner(tokenId)
    {
        _addAuthMethod(
            tokenId, LibPKPPermissionsStorage.AuthMethod(AUTH_METHOD_TYPE_ADDRESS, abi.encodePacked(user), ""), scopes
        );
    }

    function removePermittedAddress(uint256 tokenId, address user) external onlyPKPOwner(tokenId) {
        _removeAuthMethod(tokenId, AUTH_METHOD_TYPE_ADDRESS, abi.encodePacked(user));
    }

    /// @notice Lit's batch form: add then remove, all or nothing.
    function batchAddRemoveAuthMethods(
        uint256 tokenId,
        uint256[] memory permittedAuthMethodTypesToAdd,
        bytes[] memory permittedAuthMethodIdsToAdd,
        bytes[] memory permittedAuthMethodPubkeysToAdd,
        uint256[][] memory permittedAuthMethodScopesToAdd,
        uint256[] memory permittedAuthMethodTypesToRemove,
        bytes[] memory permittedAuthMethodIdsToRemove
    ) external onlyPKPOwner(tokenId) {
        uint256 nAdd = permittedAuthMethodTypesToAdd.length;
        if (
            permittedAuthMethodIdsToAdd.length != nAdd || permittedAuthMethodPubkeysToAdd.length != nAdd
                || permittedAuthMethodScopesToAdd.length != nAdd
                || permittedAuthMethodTypesToRemove.length != permittedAuthMethodIdsToRemove.length
        ) revert LengthMismatch();
        for (uint256 i = 0; i < nAdd; i++) {
            _addAuthMethod(
                tokenId,
                LibPKPPermissionsStorage.AuthMethod(
                    permittedAuthMethodTypesToAdd[i], permittedAuthMethodIdsToAdd[i], permittedAuthMethodPubkeysToAdd[i]
                ),
                permittedAuthMethodScopesToAdd[i]
            );
        }
        for (uint256 i = 0; i < permittedAuthMethodTypesToRemove.length; i++) {
            _removeAuthMethod(tokenId, permittedAuthMethodTypesToRemove[i], permittedAuthMethodIdsToRemove[i]);
        }
    }

    // ========================================================= internal

    function _checkPKPOwner(uint256 tokenId) private view {
        if (!_pkpNft.exists(tokenId)) {
            if (_pkpNft.isBurned(tokenId)) revert PKPBurned(tokenId);
            revert UnknownPKP(tokenId);
        }
        if (_pkpNft.ownerOf(tokenId) != msg.sender) revert NotPKPOwner(tokenId, msg.sender);
    }

    function _validate(uint256 authMethodType, bytes memory id) private pure {
        if (authMethodType == 0) revert InvalidAuthMethodType(authMethodType);
        if (authMethodType == AUTH_METHOD_TYPE_ADDRESS && id.length != 20) revert InvalidAddressId(id);
        if (
            authMethodType == AUTH_METHOD_TYPE_ACTION
                && (id.length != 34 || uint8(id[0]) != 0x12 || uint8(id[1]) != 0x20)
        ) revert InvalidIpfsCID(id);
    }

    function _addAuthMethod(uint256 tokenId, LibPKPPermissionsStorage.AuthMethod memory authMethod, uint256[] memory scopes)
        private
    {
        _validate(authMethod.authMethodType, authMethod.id);
        uint256 authMethodId = getAuthMethodId(authMethod.authMethodType, authMethod.id);
        LibPKPPermissionsStorage.AuthMethod storage stored = _authMethods[authMethodId];
        // The same WebAuthn credential cannot be re-registered with another key.
        if (
            authMethod.authMethodType == AUTH_METHOD_TYPE_WEBAUTHN && stored.userPubkey.length != 0
                && keccak256(stored.userPubkey) != keccak256(authMethod.userPubkey)
        ) revert WebAuthnPubkeyMismatch();
        _authMethods[authMethodId] = authMethod;
        _permitted[tokenId].add(authMethodId);
        _authMethodToPkpIds[authMethodId].add(tokenId);
        uint256 gen = _scopeGeneration[tokenId][authMethodId];
        for (uint256 i = 0; i < scopes.length; i++) {
            _scopes[tokenId][authMethodId][gen][scopes[i]] = true;
            emit PermittedAuthMethodScopeAdded(tokenId, authMethod.authMethodType, authMethod.id, scopes[i]);
        }
        emit PermittedAuthMethodAdded(tokenId, authMethod.authMethodType, authMethod.id, authMethod.userPubkey);
    }

    function _removeAuthMethod(uint256 tokenId, uint256 authMethodType, bytes memory id) private {
        uint256 authMethodId = getAuthMethodId(authMethodType, id);
        _permitted[tokenId].remove(authMethodId);
        _authMethodToPkpIds[authMethodId].remove(tokenId);
        _scopeGeneration[tokenId][authMethodId] += 1; // clears the scopes
        emit PermittedAuthMethodRemoved(tokenId, authMethodType, id);
    }
}
