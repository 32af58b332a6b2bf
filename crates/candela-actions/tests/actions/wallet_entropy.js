// Make a throwaway wallet from node randomness and sign with it locally.
(async () => {
  const wallet = ethers.Wallet.createRandom();
  const message = "candela";
  const signature = await wallet.signMessage(message);
  const recovered = ethers.utils.verifyMessage(message, signature);
  Lit.Actions.setResponse({
    response: JSON.stringify({ same: recovered === wallet.address, length: ethers.utils.arrayify(signature).length }),
  });
})();
