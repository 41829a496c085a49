// postman.js SPEC OUT: the Postman collection of the OpenAPI document SPEC,
// made by openapi-to-postmanv2 (pinned in package-lock.json), written to OUT.
// The collection's variables are the local service of `make run`: baseUrl
// http://127.0.0.1:3000 and apiKey, the demo brand rankmath's key. Each
// request gets a test that its answer's status is one the document gives
// for it, so that `newman run OUT` checks every status.
'use strict';
const fs = require('fs');
const Converter = require('openapi-to-postmanv2');

const [spec, out] = process.argv.slice(2);
if (!spec || !out) {
  console.error('usage: node postman.js SPEC OUT');
  process.exit(2);
}

const options = {
  folderStrategy: 'Tags',
  parametersResolution: 'Example',
  requestNameSource: 'Fallback',
  enableOptionalParameters: true,
  includeAuthInfoInExample: false,
};

Converter.convertV2({ type: 'string', data: fs.readFileSync(spec, 'utf8') }, options, (err, result) => {
  if (err || !result.result) {
    console.error('openapi-to-postmanv2:', err ? err.message : result.reason);
    process.exit(1);
  }
  const collection = result.output[0].data;
  collection.variable = [
    { key: 'baseUrl', value: 'http://127.0.0.1:3000', type: 'string' },
    { key: 'apiKey', value: 'local-rankmath-key-0001', type: 'string' },
  ];
  let requests = 0;
  const visit = (items) => {
    for (const item of items) {
      if (item.item) {
        visit(item.item);
        continue;
      }
      requests++;
      // A cursor comes from the previous page's answer: the example of one
      // route's cursor is no cursor of another's, so none is sent.
      for (const q of (item.request.url && item.request.url.query) || []) {
        if (q.key === 'cursor') q.disabled = true;
      }
      const documented = [...new Set((item.response || []).map((r) => r.code))].sort();
      item.event = (item.event || []).filter((e) => e.listen !== 'test');
      item.event.push({
        listen: 'test',
        script: {
          type: 'text/javascript',
          exec: [
            `const documented = ${JSON.stringify(documented)};`,
            "pm.test('the status is one the OpenAPI document gives', function () {",
            '  pm.expect(documented).to.include(pm.response.code);',
            '});',
          ],
        },
      });
    }
  };
  visit(collection.item);
  fs.writeFileSync(out, JSON.stringify(collection, null, 2) + '\n');
  console.log(`${out}: ${requests} requests, baseUrl http://127.0.0.1:3000, apiKey of the demo brand rankmath`);
});
