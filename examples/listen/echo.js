// An action for the event listener: it answers with what it was given, so
// `candela listen status` shows each event's data as the recorded result.
//
// jsParams: whatever the trigger's `params` template made of the event.
Lit.Actions.setResponse({ response: JSON.stringify(jsParams) });
