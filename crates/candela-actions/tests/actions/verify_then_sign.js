// Sign for a caller only if they proved control of an allowed address.
(async () => {
  const signer = ethers.utils.verifyMessage(message, userSignature);
  if (!allowed.map((a) => a.toLowerCase()).includes(signer.toLowerCase())) {
    Lit.Actions.setResponse({ response: JSON.stringify({ ok: false, signer }) });
    return;
  }
  const toSign = ethers.utils.arrayify(ethers.utils.hashMessage(message));
  await LitActions.signEcdsa({ toSign, publicKey, sigName: "approved" });
  Lit.Actions.setResponse({ response: JSON.stringify({ ok: true, signer }) });
})();
