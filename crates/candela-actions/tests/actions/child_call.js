// Delegate to a child action and wrap its answer.
(async () => {
  const childResponse = await Lit.Actions.call({ ipfsId: childCid, params: { who: "parent" } });
  Lit.Actions.setResponse({ response: JSON.stringify({ child: JSON.parse(childResponse) }) });
})();
