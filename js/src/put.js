// The direct path: one PUT of the whole File to a presigned URL, with real upload progress.

// Resolves to {status, body}; status 0 means the request never got an answer the page may
// read (CORS refused, storage unreachable, connection dropped, or an answer without CORS
// headers: the kernel then finds out which, see alloy_nb/widgets/_diagnosis.py).
export function putFile(url, file, headers, onProgress) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => resolve({ status: xhr.status, body: String(xhr.responseText || "").slice(0, 4000) });
    xhr.onerror = () => resolve({ status: 0, body: "" });
    xhr.onabort = () => resolve({ status: 0, body: "" });
    xhr.send(file); // the browser streams the File from disk
  });
}

// Whether the File can still be read: browsers refuse (NotReadableError) to read a File
// whose file on disk changed after it was chosen, so false means "it changed".
export async function stillReadable(file) {
  try {
    await file.slice(0, 1).arrayBuffer();
    await file.slice(Math.max(0, file.size - 1)).arrayBuffer();
    return true;
  } catch (e) {
    return false;
  }
}
