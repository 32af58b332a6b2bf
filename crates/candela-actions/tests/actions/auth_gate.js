// Only sign for the right caller, and say which action is running.
(async () => {
  const caller = Lit.Auth.authSigAddress;
  const current = Lit.Auth.actionIpfsIdStack[Lit.Auth.actionIpfsIdStack.length - 1];
  if (!caller || caller.toLowerCase() !== owner.toLowerCase()) {
    LitActions.setResponse({ response: JSON.stringify({ error: "not the owner", caller }) });
    return;
  }
  const permitted = await Lit.Actions.isPermittedAction({ tokenId: Lit.Actions.pubkeyToTokenId({ publicKey }), ipfsId: current });
  const toSign = ethers.utils.arrayify(ethers.utils.sha256(ethers.utils.toUtf8Bytes(current)));
  await LitActions.signEcdsa({ toSign, publicKey, sigName: "gate" });
  LitActions.setResponse({ response: JSON.stringify({ current, permitted }) });
})();
