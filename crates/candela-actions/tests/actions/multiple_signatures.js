const go = async () => {
  const names = [];
  for (const [i, msg] of messages.entries()) {
    const toSign = ethers.utils.arrayify(ethers.utils.keccak256(ethers.utils.toUtf8Bytes(msg)));
    const sigName = `sig${i}`;
    await LitActions.signEcdsa({ toSign, publicKey, sigName });
    names.push(sigName);
  }
  LitActions.setResponse({ response: JSON.stringify(names) });
};
go();
