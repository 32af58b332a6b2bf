// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.28;

import {Owned} from "./lib/Owned.sol";

/// @notice Named like Lit's storage library so that the ABI's internalTypes
///         ("struct LibStakingStorage.Epoch", "struct LibStakingStorage.Validator[]",
///         "enum LibStakingStorage.States") match the ABI Lit publishes in
///         the npm package lit-protocol/contracts 0.0.74 (networks datil,
///         datil-dev, datil-test: the one Lit's v7.4.0 SDK uses).
library LibStakingStorage {
    enum States {
        Active,
        NextValidatorSetLocked,
        ReadyForNextEpoch,
        Unlocked,
        Paused,
        Restore
    }

    struct Epoch {
        uint256 epochLength; // seconds
        uint256 number; // current epoch number
        uint256 endTime; // timestamp after which the next epoch may start
        uint256 retries; // failed attempts to advance
        uint256 timeout; // seconds after which a stuck transition may be unlocked
    }

    struct Validator {
        uint32 ip; // IPv4, big-endian (127.0.0.1 = 0x7f000001)
        uint128 ipv6;
        uint32 port;
        address nodeAddress;
        uint256 reward;
        uint256 senderPubKey; // Candela: the node's ed25519 identity key (32 bytes)
        uint256 receiverPubKey;
    }
}

/// @title Staking — Candela's node set
/// @notice The node set of a Candela network with the read interface Lit's
///         SDK uses to discover a network:
///         `getActiveUnkickedValidatorStructsAndCounts()` returns
///         `(Epoch, currentValidatorCountForConsensus, Validator[])`, which
///         the SDK reads as (epochInfo, minNodeCount, validators) and turns
///         into node URLs `http(s)://ip:port`.
///
///         Candela has no token staking: the contract owner administers the
///         set (`setValidators`, `setThreshold`, kick / rejoin, epoch
///         parameters), and a validator's "staker address" is its node
///         address. Each node is identified by its ed25519 identity key,
///         stored in `Validator.senderPubKey` (and readable as bytes32 through
///         `getNodeIdentityKey`); `receiverPubKey` is free for a node
///         encryption key (may be zero). An optional URL per node overrides
///         the `ip:port` form for clients that read it.
contract Staking is Owned {
    LibStakingStorage.Epoch private _epoch;
    LibStakingStorage.States private _state;
    /// The signing threshold t (Lit: currentValidatorCountForConsensus).
    uint256 private _threshold;

    address[] private _current;
    mapping(address nodeAddress => LibStakingStorage.Validator) private _validators;
    mapping(address nodeAddress => bool) private _inCurrent;
    mapping(address nodeAddress => bool) private _kicked;
    mapping(address nodeAddress => string) private _urls;

    event StateChanged(LibStakingStorage.States newState);
    event EpochLengthSet(uint256 newEpochLength);
    event EpochTimeoutSet(uint256 newEpochTimeout);
    event EpochEndTimeSet(uint256 newEpochEndTime);
    event EpochAdvanced(uint256 number);
    event ValidatorSetChanged(uint256 epochNumber, uint256 count, uint256 threshold);
    event ThresholdSet(uint256 threshold);
    event ValidatorKickedFromNextEpoch(address indexed staker, uint256 amountBurned);
    event ValidatorRejoinedNextEpoch(address staker);

    error InvalidThreshold(uint256 threshold, uint256 activeCount);
    error InvalidValidator(uint256 index);
    error DuplicateValidator(address nodeAddress);
    error NotAValidator(address nodeAddress);
    error LengthMismatch();

    constructor(address initialOwner, uint256 epochLength, uint256 epochTimeout) Owned(initialOwner) {
        _epoch.epochLength = epochLength;
        _epoch.timeout = epochTimeout;
        _epoch.number = 1;
        _epoch.endTime = block.timestamp + epochLength;
        _state = LibStakingStorage.States.Active;
    }

    // ============================================================ views

    function epoch() public view returns (LibStakingStorage.Epoch memory) {
        return _epoch;
    }

    function state() external view returns (LibStakingStorage.States) {
        return _state;
    }

    /// @notice The threshold t: how many nodes must take part in a signature.
    function currentValidatorCountForConsensus() public view returns (uint256) {
        return _threshold;
    }

    function getValidatorsInCurrentEpoch() external view returns (address[] memory) {
        return _current;
    }

    function getValidatorsInCurrentEpochLength() external view returns (uint256) {
        return _current.length;
    }

    function getValidatorsStructs(address[] memory addresses)
        public
        view
        returns (LibStakingStorage.Validator[] memory)
    {
        LibStakingStorage.Validator[] memory out = new LibStakingStorage.Validator[](addresses.length);
        for (uint256 i = 0; i < addresses.length; i++) {
            out[i] = _validators[addresses[i]];
        }
        return out;
    }

    function getValidatorsStructsInCurrentEpoch() external view returns (LibStakingStorage.Validator[] memory) {
        return getValidatorsStructs(_current);
    }

    function validators(address stakerAddress) external view returns (LibStakingStorage.Validator memory) {
        return _validators[stakerAddress];
    }

    function getKickedValidators() external view returns (address[] memory) {
        uint256 n = 0;
        for (uint256 i = 0; i < _current.length; i++) {
            if (_kicked[_current[i]]) n++;
        }
        address[] memory out = new address[](n);
        uint256 j = 0;
        for (uint256 i = 0; i < _current.length; i++) {
            if (_kicked[_current[i]]) out[j++] = _current[i];
        }
        return out;
    }

    /// @notice Current-epoch validators that are not kicked, in set order.
    function getActiveUnkickedValidators() public view returns (address[] memory) {
        address[] memory out = new address[](_activeCount());
        uint256 j = 0;
        for (uint256 i = 0; i < _current.length; i++) {
            if (!_kicked[_current[i]]) out[j++] = _current[i];
        }
        return out;
    }

    function getActiveUnkickedValidatorStructs() public view returns (LibStakingStorage.Validator[] memory) {
        return getValidatorsStructs(getActiveUnkickedValidators());
    }

    /// @notice Lit's network discovery call: (epoch, threshold, active validators).
    function getActiveUnkickedValidatorStructsAndCounts()
        external
        view
        returns (LibStakingStorage.Epoch memory, uint256, LibStakingStorage.Validator[] memory)
    {
        return (epoch(), currentValidatorCountForConsensus(), getActiveUnkickedValidatorStructs());
    }

    function isActiveValidator(address account) external view returns (bool) {
        return _inCurrent[account] && !_kicked[account];
    }

    function isActiveValidatorByNodeAddress(address account) external view returns (bool) {
        return _inCurrent[account] && !_kicked[account];
    }

    /// @notice Candela has no separate staker accounts: identity mapping for
    ///         current validators, zero otherwise.
    function nodeAddressToStakerAddress(address nodeAddress) external view returns (address) {
        return _inCurrent[nodeAddress] ? nodeAddress : address(0);
    }

    /// @notice The node's ed25519 identity key (zero if not a validator).
    function getNodeIdentityKey(address nodeAddress) external view returns (bytes32) {
        return bytes32(_validators[nodeAddress].senderPubKey);
    }

    /// @notice The node's URL if one was registered, else "".
    function getNodeUrl(address nodeAddress) external view returns (string memory) {
        return _urls[nodeAddress];
    }

    // ============================================================ admin

    /// @notice Replace the node set, starting a new epoch.
    /// @param newValidators one entry per node: ip (IPv4, may be 0 if ipv6 is
    ///        set) / ipv6, port (1..65535), nodeAddress (unique, non-zero),
    ///        senderPubKey = ed25519 identity key (non-zero), receiverPubKey
    ///        (optional), reward (ignored, stored as 0).
    /// @param urls empty, or one URL per node ("" = use ip:port).
    /// @param threshold the new t, 1 <= t <= newValidators.length (0 only for
    ///        an empty set).
    function setValidators(
        LibStakingStorage.Validator[] calldata newValidators,
        string[] calldata urls,
        uint256 threshold
    ) external onlyOwner {
        if (urls.length != 0 && urls.length != newValidators.length) revert LengthMismatch();
        _checkThreshold(threshold, newValidators.length);
        // Forget the old set.
        for (uint256 i = 0; i < _current.length; i++) {
            address old = _current[i];
            delete _inCurrent[old];
            delete _kicked[old];
            delete _validators[old];
            delete _urls[old];
        }
        delete _current;
        for (uint256 i = 0; i < newValidators.length; i++) {
            LibStakingStorage.Validator calldata v = newValidators[i];
            if (
                v.nodeAddress == address(0) || (v.ip == 0 && v.ipv6 == 0) || v.port == 0 || v.port > 65535
                    || v.senderPubKey == 0
            ) revert InvalidValidator(i);
            if (_inCurrent[v.nodeAddress]) revert DuplicateValidator(v.nodeAddress);
            _inCurrent[v.nodeAddress] = true;
            _current.push(v.nodeAddress);
            LibStakingStorage.Validator memory stored = v;
            stored.reward = 0;
            _validators[v.nodeAddress] = stored;
            if (urls.length != 0 && bytes(urls[i]).length != 0) _urls[v.nodeAddress] = urls[i];
        }
        _threshold = threshold;
        _advance();
        emit ValidatorSetChanged(_epoch.number, newValidators.length, threshold);
        emit ThresholdSet(threshold);
    }

    /// @notice Set t; must stay within 1..(active unkicked validators).
    function setThreshold(uint256 threshold) external onlyOwner {
        _checkThreshold(threshold, _activeCount());
        _threshold = threshold;
        emit ThresholdSet(threshold);
    }

    /// @notice Exclude a node from the active set (it stays listed in the
    ///         current epoch until the next `advanceEpoch`). Refused if fewer
    ///         than t nodes would remain.
    function adminKickValidatorInNextEpoch(address validatorStakerAddress) external onlyOwner {
        if (!_inCurrent[validatorStakerAddress] || _kicked[validatorStakerAddress]) {
            revert NotAValidator(validatorStakerAddress);
        }
        _checkThreshold(_threshold, _activeCount() - 1);
        _kicked[validatorStakerAddress] = true;
        emit ValidatorKickedFromNextEpoch(validatorStakerAddress, 0);
    }

    /// @notice Undo a kick that has not yet been applied by `advanceEpoch`.
    function adminRejoinValidator(address staker) external onlyOwner {
        if (!_kicked[staker]) revert NotAValidator(staker);
        _kicked[staker] = false;
        emit ValidatorRejoinedNextEpoch(staker);
    }

    /// @notice Start the next epoch: kicked nodes leave the set.
    function advanceEpoch() external onlyOwner {
        uint256 i = 0;
        while (i < _current.length) {
            address a = _current[i];
            if (_kicked[a]) {
                delete _kicked[a];
                delete _inCurrent[a];
                delete _validators[a];
                delete _urls[a];
                _current[i] = _current[_current.length - 1];
                _current.pop();
            } else {
                i++;
            }
        }
        _advance();
    }

    function setEpochLength(uint256 newEpochLength) external onlyOwner {
        _epoch.epochLength = newEpochLength;
        emit EpochLengthSet(newEpochLength);
    }

    function setEpochTimeout(uint256 newEpochTimeout) external onlyOwner {
        _epoch.timeout = newEpochTimeout;
        emit EpochTimeoutSet(newEpochTimeout);
    }

    function setEpochEndTime(uint256 newEpochEndTime) external onlyOwner {
        _epoch.endTime = newEpochEndTime;
        emit EpochEndTimeSet(newEpochEndTime);
    }

    function setEpochState(LibStakingStorage.States newState) external onlyOwner {
        _state = newState;
        emit StateChanged(newState);
    }

    // ========================================================= internal

    function _activeCount() private view returns (uint256 n) {
        for (uint256 i = 0; i < _current.length; i++) {
            if (!_kicked[_current[i]]) n++;
        }
    }

    function _checkThreshold(uint256 threshold, uint256 count) private pure {
        bool ok = count == 0 ? threshold == 0 : (threshold >= 1 && threshold <= count);
        if (!ok) revert InvalidThreshold(threshold, count);
    }

    function _advance() private {
        _epoch.number += 1;
        _epoch.retries = 0;
        _epoch.endTime = block.timestamp + _epoch.epochLength;
        emit EpochAdvanced(_epoch.number);
        // Lit's SDK re-reads the node set when it sees StateChanged(Active).
        _state = LibStakingStorage.States.Active;
        emit StateChanged(LibStakingStorage.States.Active);
    }
}
