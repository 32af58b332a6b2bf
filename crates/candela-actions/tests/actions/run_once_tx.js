// One node "sends" the transaction, everyone returns its hash.
(async () => {
  const unsigned = {
    to: recipient,
    value: ethers.utils.parseEther("0.01").toHexString(),
    nonce: 0,
    gasLimit: 21000,
    chainId: 1,
  };
  const serialized = ethers.utils.serializeTransaction(unsigned);
  const txHash = await Lit.Actions.runOnce({ waitForResponse: true, name: "txSender" }, async () => {
    return ethers.utils.keccak256(serialized);
  });
  Lit.Actions.setResponse({ response: JSON.stringify({ txHash }) });
})();
