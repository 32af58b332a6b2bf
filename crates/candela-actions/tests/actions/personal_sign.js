(async () => {
  try {
    const sigShare = await Lit.Actions.ethPersonalSignMessageEcdsa({
      message: dataToSign,
      publicKey: pkpPublicKey,
      sigName,
    });
    Lit.Actions.setResponse({ response: sigShare });
  } catch (error) {
    Lit.Actions.setResponse({ response: error.message });
  }
})();
