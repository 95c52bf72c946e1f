// A client written from Alloy's public File Management guide alone (Node 18+ fetch).
// Usage: node docs_client.mjs BASE_URL API_KEY FILE
import crypto from 'crypto';
import fs from 'fs';
import path from 'path';

const [baseUrl, token, file] = process.argv.slice(2);
const headers = {
  'Authorization': `Bearer ${token}`,
  'x-api-version': '2025-09',
  'Content-Type': 'application/json',
};
const out = {};

const fileBuffer = fs.readFileSync(file);
const md5Hex = crypto.createHash('md5').update(fileBuffer).digest('hex');
const filename = path.basename(file);

async function requestUpload() {
  const response = await fetch(`${baseUrl}/2025-09/connectors/files/upload/request`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ filename, mimeType: 'text/plain', md5: md5Hex }),
  });
  if (!response.ok) throw new Error(`request failed: ${response.status} ${await response.text()}`);
  return (await response.json()).presignedUrl;
}

const { presignedUrl, md5, s3Key, type } = await requestUpload();
out.first = { s3Key, type };
if (type === 'new') {
  const put = await fetch(presignedUrl, {
    method: 'PUT',
    headers: { 'Content-Type': 'text/plain', 'Content-MD5': md5 },
    body: fileBuffer,
  });
  out.putStatus = put.status;
}
const list = await fetch(`${baseUrl}/connectors/files/list`, { headers });
out.list = (await list.json()).files;
out.second = (({ s3Key, type }) => ({ s3Key, type }))(await requestUpload());
const del = await fetch(`${baseUrl}/connectors/files/${encodeURIComponent(s3Key)}`, {
  method: 'DELETE',
  headers,
});
out.delete = await del.json();
const after = await fetch(`${baseUrl}/connectors/files/list`, { headers });
out.after = (await after.json()).files;
console.log(JSON.stringify(out));
