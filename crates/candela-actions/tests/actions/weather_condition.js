// Sign only if it is hot enough at the forecast endpoint.
const go = async () => {
  const url = `${apiBase}/json`;
  const resp = await fetch(url).then((response) => response.json());
  const temp = resp.properties.periods[0].temperature;
  console.log("current temp", temp);
  if (temp < 60) {
    Lit.Actions.setResponse({ response: "too cold to sign" });
    return;
  }
  const toSign = ethers.utils.arrayify(
    ethers.utils.keccak256(ethers.utils.toUtf8Bytes(JSON.stringify({ temp })))
  );
  await LitActions.signEcdsa({ toSign, publicKey, sigName: "weather" });
  Lit.Actions.setResponse({ response: JSON.stringify({ temp, signed: true }) });
};
go();
