// Records the hash of the sources the bundle was built from, so a Go test
// fails when a source changed without `npm run build`.
const c = require('crypto'), f = require('fs');
const h = c.createHash('sha256');
for (const name of ['app.js', 'app.css', 'package-lock.json']) h.update(f.readFileSync(name));
f.writeFileSync('../dist/src-sha256', h.digest('hex') + '\n');
