// The classic: hash a message with ethers and ask for a signature share.
(async () => {
  const message = "Hello World";
  const toSign = ethers.utils.arrayify(ethers.utils.keccak256(ethers.utils.toUtf8Bytes(message)));
  const sigShare = await LitActions.signEcdsa({ toSign, publicKey, sigName: "sig1" });
  Lit.Actions.setResponse({ response: JSON.stringify({ message, sigShare }) });
})();
