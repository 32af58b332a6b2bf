// Signs `toSign` with `publicKey` only if the jsParam `number` is prime;
// otherwise explains why not.
const isPrime = (n) => {
  if (!Number.isInteger(n) || n < 2) return false;
  for (let i = 2; i * i <= n; i++) {
    if (n % i === 0) return false;
  }
  return true;
};

const go = async () => {
  if (!isPrime(number)) {
    Lit.Actions.setResponse({
      response: JSON.stringify({ signed: false, reason: `${number} is not a prime number` }),
    });
    return;
  }
  const sigShare = await LitActions.signEcdsa({ toSign, publicKey, sigName: "primeSig" });
  Lit.Actions.setResponse({ response: JSON.stringify({ signed: true, sigShare }) });
};

go();
