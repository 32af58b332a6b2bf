// Get a full signature inside the action and check who signed.
(async () => {
  const digest = ethers.utils.keccak256(ethers.utils.toUtf8Bytes(payload));
  const sig = JSON.parse(
    await Lit.Actions.signAndCombineEcdsa({ toSign: ethers.utils.arrayify(digest), publicKey, sigName: "combined" })
  );
  const recovered = ethers.utils.recoverAddress(digest, {
    r: "0x" + sig.r.substring(2), // Lit returns R compressed: drop its prefix byte
    s: "0x" + sig.s,
    v: 27 + sig.v,
  });
  Lit.Actions.setResponse({
    response: JSON.stringify({ recovered, expected: ethers.utils.computeAddress(publicKey) }),
  });
})();
