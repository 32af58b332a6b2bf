// Candela quickstart action: sign `toSign` with the PKP `publicKey`, but only
// when the jsParam `number` is prime. Otherwise the action signs nothing and
// says why in its response.
//
// jsParams: { number, toSign (32 bytes), publicKey }
const isPrime = (n) => {
  if (!Number.isSafeInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) {
    if (n % d === 0) return false;
  }
  return true;
};

const smallestFactor = (n) => {
  for (let d = 2; d * d <= n; d++) {
    if (n % d === 0) return d;
  }
  return n;
};

(async () => {
  if (!isPrime(number)) {
    const reason =
      Number.isSafeInteger(number) && number >= 2
        ? `${number} is not prime: it is divisible by ${smallestFactor(number)}`
        : `${number} is not prime: primes are whole numbers from 2 up`;
    Lit.Actions.setResponse({ response: JSON.stringify({ signed: false, reason }) });
    return;
  }
  await Lit.Actions.signEcdsa({ toSign, publicKey, sigName: "prime" });
  Lit.Actions.setResponse({ response: JSON.stringify({ signed: true, number }) });
})();
