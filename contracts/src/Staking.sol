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
    /// Members kicked out of the committee: listed in `_current` at their
    /// index (every other member keeps its index, its share's
    /// x-coordinate), holding no share, out of the SDK's view.
    mapping(address nodeAddress => bool) private _out;
    /// Kick votes: who voted against whom in which epoch, and the counts.
    KickVote[] private _kickVotes;
    mapping(uint256 epochNumber => mapping(address target => mapping(address voter => bool))) private _voted;
    mapping(uint256 epochNumber => mapping(address target => uint256)) private _votes;

    /// @notice One recorded kick vote.
    struct KickVote {
        uint256 epochNumber;
        address voter;
        address target;
    }

    event StateChanged(LibStakingStorage.States newState);
    event EpochLengthSet(uint256 newEpochLength);
    event EpochTimeoutSet(uint256 newEpochTimeout);
    event EpochEndTimeSet(uint256 newEpochEndTime);
    event EpochAdvanced(uint256 number);
    event ValidatorSetChanged(uint256 epochNumber, uint256 count, uint256 threshold);
    event ThresholdSet(uint256 threshold);
    event ValidatorKickedFromNextEpoch(address indexed staker, uint256 amountBurned);
    event ValidatorRejoinedNextEpoch(address staker);
    event VotedToKickValidatorInNextEpoch(
        address indexed reporter, address indexed validatorStakerAddress, uint256 indexed reason, bytes data
    );

    error InvalidThreshold(uint256 threshold, uint256 activeCount);
    error InvalidValidator(uint256 index);
    error DuplicateValidator(address nodeAddress);
    error NotAValidator(address nodeAddress);
    error LengthMismatch();
    error MustBeValidatorInNextEpochToKick(address stakerAddress);
    error CannotVoteTwice(address stakerAddress);
    error CannotKickBelowCurrentValidatorThreshold();

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

    /// @notice Validators kicked (by the owner, for the next epoch, or out
    ///         of the committee by their peers' votes), in set order.
    function getKickedValidators() external view returns (address[] memory) {
        address[] memory out = new address[](_current.length - _activeCount());
        uint256 j = 0;
        for (uint256 i = 0; i < _current.length; i++) {
            if (!_isActive(_current[i])) out[j++] = _current[i];
        }
        return out;
    }

    /// @notice The indices (in `getValidatorsInCurrentEpoch`) of the members
    ///         kicked out of the committee: they hold no share.
    function getKickedOutIndices() external view returns (uint256[] memory) {
        uint256 n = 0;
        for (uint256 i = 0; i < _current.length; i++) {
            if (_out[_current[i]]) n++;
        }
        uint256[] memory out = new uint256[](n);
        uint256 j = 0;
        for (uint256 i = 0; i < _current.length; i++) {
            if (_out[_current[i]]) out[j++] = i;
        }
        return out;
    }

    /// @notice Every kick vote recorded, oldest first.
    function getKickVotes() external view returns (KickVote[] memory) {
        return _kickVotes;
    }

    /// @notice Lit's view of a vote: the votes against `validatorStakerAddress`
    ///         in `epochNumber`, and whether `voterStakerAddress` cast one.
    function getVotingStatusToKickValidator(
        uint256 epochNumber,
        address validatorStakerAddress,
        address voterStakerAddress
    ) external view returns (uint256, bool) {
        return (
            _votes[epochNumber][validatorStakerAddress],
            _voted[epochNumber][validatorStakerAddress][voterStakerAddress]
        );
    }

    /// @notice Current-epoch validators that are not kicked, in set order.
    function getActiveUnkickedValidators() public view returns (address[] memory) {
        address[] memory out = new address[](_activeCount());
        uint256 j = 0;
        for (uint256 i = 0; i < _current.length; i++) {
            if (_isActive(_current[i])) out[j++] = _current[i];
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
        return _isActive(account);
    }

    function isActiveValidatorByNodeAddress(address account) external view returns (bool) {
        return _isActive(account);
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
        _setValidators(newValidators, urls, threshold, new uint256[](0));
    }

    /// @notice `setValidators` with members kicked out of the committee:
    ///         `kickedOut` lists their indices (ascending), which stay taken
    ///         and hold no share; `threshold` counts the others.
    function setValidatorsKickedOut(
        LibStakingStorage.Validator[] calldata newValidators,
        string[] calldata urls,
        uint256 threshold,
        uint256[] calldata kickedOut
    ) external onlyOwner {
        _setValidators(newValidators, urls, threshold, kickedOut);
    }

    function _setValidators(
        LibStakingStorage.Validator[] calldata newValidators,
        string[] calldata urls,
        uint256 threshold,
        uint256[] memory kickedOut
    ) private {
        if (urls.length != 0 && urls.length != newValidators.length) revert LengthMismatch();
        for (uint256 k = 0; k < kickedOut.length; k++) {
            if (kickedOut[k] >= newValidators.length || (k > 0 && kickedOut[k] <= kickedOut[k - 1])) {
                revert InvalidValidator(kickedOut[k]);
            }
        }
        _checkThreshold(threshold, newValidators.length - kickedOut.length);
        // Forget the old set.
        for (uint256 i = 0; i < _current.length; i++) {
            address old = _current[i];
            delete _inCurrent[old];
            delete _kicked[old];
            delete _out[old];
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
        for (uint256 k = 0; k < kickedOut.length; k++) {
            _out[_current[kickedOut[k]]] = true;
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
        if (!_isActive(validatorStakerAddress)) {
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

    /// @notice Start the next epoch: kicked nodes leave the committee.
    ///         They keep their index (every other member keeps its own, its
    ///         share's x-coordinate) and hold no share once the nodes moved
    ///         the keys. When some left, the threshold becomes more than two
    ///         thirds of the members left.
    function advanceEpoch() external onlyOwner {
        bool left = false;
        for (uint256 i = 0; i < _current.length; i++) {
            address a = _current[i];
            if (_kicked[a]) {
                delete _kicked[a];
                _out[a] = true;
                left = true;
            }
        }
        if (left) {
            _threshold = (2 * _committeeCount()) / 3 + 1;
            emit ThresholdSet(_threshold);
        }
        _advance();
    }

    /// @notice A member of the committee (its node wallet, the validator's
    ///         node address) votes to kick another member, which it found
    ///         unreachable (`reason` and `data` are recorded in the event
    ///         only). When as many members as the threshold voted against
    ///         the same member in this epoch, it is kicked out of the
    ///         committee at once: a new epoch whose threshold is more than
    ///         two thirds of the members left; its index stays taken.
    function kickValidatorInNextEpoch(address validatorStakerAddress, uint256 reason, bytes calldata data)
        external
    {
        address voter = msg.sender;
        if (!_inCommittee(voter)) revert MustBeValidatorInNextEpochToKick(voter);
        if (!_inCommittee(validatorStakerAddress) || voter == validatorStakerAddress) {
            revert NotAValidator(validatorStakerAddress);
        }
        uint256 members = _committeeCount();
        if (members <= 2) revert CannotKickBelowCurrentValidatorThreshold();
        uint256 n = _epoch.number;
        if (_voted[n][validatorStakerAddress][voter]) revert CannotVoteTwice(voter);
        _voted[n][validatorStakerAddress][voter] = true;
        uint256 votes = ++_votes[n][validatorStakerAddress];
        _kickVotes.push(KickVote(n, voter, validatorStakerAddress));
        emit VotedToKickValidatorInNextEpoch(voter, validatorStakerAddress, reason, data);
        if (votes >= _threshold) {
            _out[validatorStakerAddress] = true;
            delete _kicked[validatorStakerAddress];
            _threshold = (2 * (members - 1)) / 3 + 1;
            emit ValidatorKickedFromNextEpoch(validatorStakerAddress, 0);
            emit ThresholdSet(_threshold);
            _advance();
        }
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

    /// Listed, not kicked for the next epoch, not kicked out: in the SDK's view.
    function _isActive(address a) private view returns (bool) {
        return _inCurrent[a] && !_kicked[a] && !_out[a];
    }

    /// Holds a share: listed and not kicked out (a member kicked for the
    /// next epoch still holds one).
    function _inCommittee(address a) private view returns (bool) {
        return _inCurrent[a] && !_out[a];
    }

    function _committeeCount() private view returns (uint256 n) {
        for (uint256 i = 0; i < _current.length; i++) {
            if (_inCommittee(_current[i])) n++;
        }
    }

    function _activeCount() private view returns (uint256 n) {
        for (uint256 i = 0; i < _current.length; i++) {
            if (_isActive(_current[i])) n++;
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
