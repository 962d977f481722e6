// CommonJS works too: the same objects as `import`.
const { Client } = require('chorus');

new Client()
  .complete({ provider: 'simulated', model: 'sim-fast', prompt: '[[reply:Hello from CommonJS]]' })
  .then((r) => console.log(r.content));
