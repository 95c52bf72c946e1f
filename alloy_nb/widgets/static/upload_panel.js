// Built from js/ by `make js`; do not edit. Bundles hash-wasm 4.13.0 (notices: THIRD-PARTY-NOTICES.txt).

// src/mailbox.js
var Mailbox = class {
  constructor() {
    this.queue = [];
    this.waiters = [];
    this.onAck = null;
    this.onEnd = null;
  }
  deliver(msg) {
    if (msg.type === "ack") {
      if (this.onAck) this.onAck(msg);
      return;
    }
    if (msg.type === "finished" && this.onEnd) this.onEnd();
    const waiter = this.waiters.shift();
    if (waiter) waiter(msg);
    else this.queue.push(msg);
  }
  next() {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    return new Promise((resolve) => this.waiters.push(resolve));
  }
};

// node_modules/hash-wasm/dist/index.esm.js
function __awaiter(thisArg, _arguments, P, generator) {
  function adopt(value) {
    return value instanceof P ? value : new P(function(resolve) {
      resolve(value);
    });
  }
  return new (P || (P = Promise))(function(resolve, reject) {
    function fulfilled(value) {
      try {
        step(generator.next(value));
      } catch (e) {
        reject(e);
      }
    }
    function rejected(value) {
      try {
        step(generator["throw"](value));
      } catch (e) {
        reject(e);
      }
    }
    function step(result) {
      result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected);
    }
    step((generator = generator.apply(thisArg, _arguments || [])).next());
  });
}
var Mutex = class {
  constructor() {
    this.mutex = Promise.resolve();
  }
  lock() {
    let begin = () => {
    };
    this.mutex = this.mutex.then(() => new Promise(begin));
    return new Promise((res) => {
      begin = res;
    });
  }
  dispatch(fn) {
    return __awaiter(this, void 0, void 0, function* () {
      const unlock = yield this.lock();
      try {
        return yield Promise.resolve(fn());
      } finally {
        unlock();
      }
    });
  }
};
var _a;
function getGlobal() {
  if (typeof globalThis !== "undefined")
    return globalThis;
  if (typeof self !== "undefined")
    return self;
  if (typeof window !== "undefined")
    return window;
  return global;
}
var globalObject = getGlobal();
var nodeBuffer = (_a = globalObject.Buffer) !== null && _a !== void 0 ? _a : null;
var textEncoder = globalObject.TextEncoder ? new globalObject.TextEncoder() : null;
function hexCharCodesToInt(a, b) {
  return (a & 15) + (a >> 6 | a >> 3 & 8) << 4 | (b & 15) + (b >> 6 | b >> 3 & 8);
}
function writeHexToUInt8(buf, str) {
  const size = str.length >> 1;
  for (let i = 0; i < size; i++) {
    const index = i << 1;
    buf[i] = hexCharCodesToInt(str.charCodeAt(index), str.charCodeAt(index + 1));
  }
}
function hexStringEqualsUInt8(str, buf) {
  if (str.length !== buf.length * 2) {
    return false;
  }
  for (let i = 0; i < buf.length; i++) {
    const strIndex = i << 1;
    if (buf[i] !== hexCharCodesToInt(str.charCodeAt(strIndex), str.charCodeAt(strIndex + 1))) {
      return false;
    }
  }
  return true;
}
var alpha = "a".charCodeAt(0) - 10;
var digit = "0".charCodeAt(0);
function getDigestHex(tmpBuffer, input, hashLength) {
  let p = 0;
  for (let i = 0; i < hashLength; i++) {
    let nibble = input[i] >>> 4;
    tmpBuffer[p++] = nibble > 9 ? nibble + alpha : nibble + digit;
    nibble = input[i] & 15;
    tmpBuffer[p++] = nibble > 9 ? nibble + alpha : nibble + digit;
  }
  return String.fromCharCode.apply(null, tmpBuffer);
}
var getUInt8Buffer = nodeBuffer !== null ? (data) => {
  if (typeof data === "string") {
    const buf = nodeBuffer.from(data, "utf8");
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
  }
  if (nodeBuffer.isBuffer(data)) {
    return new Uint8Array(data.buffer, data.byteOffset, data.length);
  }
  if (ArrayBuffer.isView(data)) {
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  throw new Error("Invalid data type!");
} : (data) => {
  if (typeof data === "string") {
    return textEncoder.encode(data);
  }
  if (ArrayBuffer.isView(data)) {
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  throw new Error("Invalid data type!");
};
var base64Chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
var base64Lookup = new Uint8Array(256);
for (let i = 0; i < base64Chars.length; i++) {
  base64Lookup[base64Chars.charCodeAt(i)] = i;
}
function getDecodeBase64Length(data) {
  let bufferLength = Math.floor(data.length * 0.75);
  const len = data.length;
  if (data[len - 1] === "=") {
    bufferLength -= 1;
    if (data[len - 2] === "=") {
      bufferLength -= 1;
    }
  }
  return bufferLength;
}
function decodeBase64(data) {
  const bufferLength = getDecodeBase64Length(data);
  const len = data.length;
  const bytes = new Uint8Array(bufferLength);
  let p = 0;
  for (let i = 0; i < len; i += 4) {
    const encoded1 = base64Lookup[data.charCodeAt(i)];
    const encoded2 = base64Lookup[data.charCodeAt(i + 1)];
    const encoded3 = base64Lookup[data.charCodeAt(i + 2)];
    const encoded4 = base64Lookup[data.charCodeAt(i + 3)];
    bytes[p] = encoded1 << 2 | encoded2 >> 4;
    p += 1;
    bytes[p] = (encoded2 & 15) << 4 | encoded3 >> 2;
    p += 1;
    bytes[p] = (encoded3 & 3) << 6 | encoded4 & 63;
    p += 1;
  }
  return bytes;
}
var MAX_HEAP = 16 * 1024;
var WASM_FUNC_HASH_LENGTH = 4;
var wasmMutex = new Mutex();
var wasmModuleCache = /* @__PURE__ */ new Map();
function WASMInterface(binary, hashLength) {
  return __awaiter(this, void 0, void 0, function* () {
    let wasmInstance = null;
    let memoryView = null;
    let initialized = false;
    if (typeof WebAssembly === "undefined") {
      throw new Error("WebAssembly is not supported in this environment!");
    }
    const writeMemory = (data, offset = 0) => {
      memoryView.set(data, offset);
    };
    const getMemory = () => memoryView;
    const getExports = () => wasmInstance.exports;
    const setMemorySize = (totalSize) => {
      wasmInstance.exports.Hash_SetMemorySize(totalSize);
      const arrayOffset = wasmInstance.exports.Hash_GetBuffer();
      const memoryBuffer = wasmInstance.exports.memory.buffer;
      memoryView = new Uint8Array(memoryBuffer, arrayOffset, totalSize);
    };
    const getStateSize = () => {
      const view = new DataView(wasmInstance.exports.memory.buffer);
      const stateSize = view.getUint32(wasmInstance.exports.STATE_SIZE, true);
      return stateSize;
    };
    const loadWASMPromise = wasmMutex.dispatch(() => __awaiter(this, void 0, void 0, function* () {
      if (!wasmModuleCache.has(binary.name)) {
        const asm = decodeBase64(binary.data);
        const promise = WebAssembly.compile(asm.buffer);
        wasmModuleCache.set(binary.name, promise);
      }
      const module = yield wasmModuleCache.get(binary.name);
      wasmInstance = yield WebAssembly.instantiate(module, {
        // env: {
        //   emscripten_memcpy_big: (dest, src, num) => {
        //     const memoryBuffer = wasmInstance.exports.memory.buffer;
        //     const memView = new Uint8Array(memoryBuffer, 0);
        //     memView.set(memView.subarray(src, src + num), dest);
        //   },
        //   print_memory: (offset, len) => {
        //     const memoryBuffer = wasmInstance.exports.memory.buffer;
        //     const memView = new Uint8Array(memoryBuffer, 0);
        //     console.log('print_int32', memView.subarray(offset, offset + len));
        //   },
        // },
      });
    }));
    const setupInterface = () => __awaiter(this, void 0, void 0, function* () {
      if (!wasmInstance) {
        yield loadWASMPromise;
      }
      const arrayOffset = wasmInstance.exports.Hash_GetBuffer();
      const memoryBuffer = wasmInstance.exports.memory.buffer;
      memoryView = new Uint8Array(memoryBuffer, arrayOffset, MAX_HEAP);
    });
    const init = (bits = null) => {
      initialized = true;
      wasmInstance.exports.Hash_Init(bits);
    };
    const updateUInt8Array = (data) => {
      let read = 0;
      while (read < data.length) {
        const chunk = data.subarray(read, read + MAX_HEAP);
        read += chunk.length;
        memoryView.set(chunk);
        wasmInstance.exports.Hash_Update(chunk.length);
      }
    };
    const update = (data) => {
      if (!initialized) {
        throw new Error("update() called before init()");
      }
      const Uint8Buffer = getUInt8Buffer(data);
      updateUInt8Array(Uint8Buffer);
    };
    const digestChars = new Uint8Array(hashLength * 2);
    const digest = (outputType, padding = null) => {
      if (!initialized) {
        throw new Error("digest() called before init()");
      }
      initialized = false;
      wasmInstance.exports.Hash_Final(padding);
      if (outputType === "binary") {
        return memoryView.slice(0, hashLength);
      }
      return getDigestHex(digestChars, memoryView, hashLength);
    };
    const save = () => {
      if (!initialized) {
        throw new Error("save() can only be called after init() and before digest()");
      }
      const stateOffset = wasmInstance.exports.Hash_GetState();
      const stateLength = getStateSize();
      const memoryBuffer = wasmInstance.exports.memory.buffer;
      const internalState = new Uint8Array(memoryBuffer, stateOffset, stateLength);
      const prefixedState = new Uint8Array(WASM_FUNC_HASH_LENGTH + stateLength);
      writeHexToUInt8(prefixedState, binary.hash);
      prefixedState.set(internalState, WASM_FUNC_HASH_LENGTH);
      return prefixedState;
    };
    const load = (state) => {
      if (!(state instanceof Uint8Array)) {
        throw new Error("load() expects an Uint8Array generated by save()");
      }
      const stateOffset = wasmInstance.exports.Hash_GetState();
      const stateLength = getStateSize();
      const overallLength = WASM_FUNC_HASH_LENGTH + stateLength;
      const memoryBuffer = wasmInstance.exports.memory.buffer;
      if (state.length !== overallLength) {
        throw new Error(`Bad state length (expected ${overallLength} bytes, got ${state.length})`);
      }
      if (!hexStringEqualsUInt8(binary.hash, state.subarray(0, WASM_FUNC_HASH_LENGTH))) {
        throw new Error("This state was written by an incompatible hash implementation");
      }
      const internalState = state.subarray(WASM_FUNC_HASH_LENGTH);
      new Uint8Array(memoryBuffer, stateOffset, stateLength).set(internalState);
      initialized = true;
    };
    const isDataShort = (data) => {
      if (typeof data === "string") {
        return data.length < MAX_HEAP / 4;
      }
      return data.byteLength < MAX_HEAP;
    };
    let canSimplify = isDataShort;
    switch (binary.name) {
      case "argon2":
      case "scrypt":
        canSimplify = () => true;
        break;
      case "blake2b":
      case "blake2s":
        canSimplify = (data, initParam) => initParam <= 512 && isDataShort(data);
        break;
      case "blake3":
        canSimplify = (data, initParam) => initParam === 0 && isDataShort(data);
        break;
      case "xxhash64":
      // cannot simplify
      case "xxhash3":
      case "xxhash128":
      case "crc64":
        canSimplify = () => false;
        break;
    }
    const calculate = (data, initParam = null, digestParam = null) => {
      if (!canSimplify(data, initParam)) {
        init(initParam);
        update(data);
        return digest("hex", digestParam);
      }
      const buffer = getUInt8Buffer(data);
      memoryView.set(buffer);
      wasmInstance.exports.Hash_Calculate(buffer.length, initParam, digestParam);
      return getDigestHex(digestChars, memoryView, hashLength);
    };
    yield setupInterface();
    return {
      getMemory,
      writeMemory,
      getExports,
      setMemorySize,
      init,
      update,
      digest,
      save,
      load,
      calculate,
      hashLength
    };
  });
}
var mutex$l = new Mutex();
var mutex$k = new Mutex();
var uint32View = new DataView(new ArrayBuffer(4));
var mutex$j = new Mutex();
var mutex$i = new Mutex();
var mutex$h = new Mutex();
var mutex$g = new Mutex();
var polyBuffer = new Uint8Array(8);
var mutex$f = new Mutex();
var name$d = "md5";
var data$d = "AGFzbQEAAAABEgRgAAF/YAAAYAF/AGACf38BfwMIBwABAgMBAAIFBAEBAgIGDwJ/AUGAgAQLfwBBgIAECweCAQkGbWVtb3J5AgAPX19zdGFja19wb2ludGVyAwAOSGFzaF9HZXRCdWZmZXIAAAlIYXNoX0luaXQAAQtIYXNoX1VwZGF0ZQACCkhhc2hfRmluYWwABA1IYXNoX0dldFN0YXRlAAUOSGFzaF9DYWxjdWxhdGUABgpTVEFURV9TSVpFAwEKgxwHBgBBgIEECy0AQQBC/rnrxemOlZkQNwKQgQVBAEKBxpS6lvHq5m83AoiBBUEAQgA3AoCBBQvKBQEHf0EAQQAoAoCBBSIBIABqQf////8BcSICNgKAgQVBAEEAKAKEgQUgAiABSWogAEEddmo2AoSBBQJAAkACQAJAAkACQCABQT9xIgMNAEGAgQQhBAwBCyAAQcAAIANrIgVJDQEgBUEDcSEGQQAhAQJAAkAgA0E/c0EDSQ0AIANBgIEFaiEEIAVB/ABxIQdBACEBA0AgBCABaiICQRhqIAFBgIEEai0AADoAACACQRlqIAFBgYEEai0AADoAACACQRpqIAFBgoEEai0AADoAACACQRtqIAFBg4EEai0AADoAACAHIAFBBGoiAUcNAAsgBkUNAQsgA0GYgQVqIQIDQCACIAFqIAFBgIEEai0AADoAACABQQFqIQEgBkF/aiIGDQALC0GYgQVBwAAQAxogACAFayEAIAVBgIEEaiEECyAAQcAATw0BIAAhAgwCCyAARQ0CIABBA3EhBkEAIQECQCAAQQRJDQAgA0GAgQVqIQQgAEF8cSEAQQAhAQNAIAQgAWoiAkEYaiABQYCBBGotAAA6AAAgAkEZaiABQYGBBGotAAA6AAAgAkEaaiABQYKBBGotAAA6AAAgAkEbaiABQYOBBGotAAA6AAAgACABQQRqIgFHDQALIAZFDQMLIANBmIEFaiECA0AgAiABaiABQYCBBGotAAA6AAAgAUEBaiEBIAZBf2oiBg0ADAMLCyAAQT9xIQIgBCAAQUBxEAMhBAsgAkUNACACQQNxIQZBACEBAkAgAkEESQ0AIAJBPHEhAEEAIQEDQCABQZiBBWogBCABaiICLQAAOgAAIAFBmYEFaiACQQFqLQAAOgAAIAFBmoEFaiACQQJqLQAAOgAAIAFBm4EFaiACQQNqLQAAOgAAIAAgAUEEaiIBRw0ACyAGRQ0BCwNAIAFBmIEFaiAEIAFqLQAAOgAAIAFBAWohASAGQX9qIgYNAAsLC7QQARl/QQAoApSBBSECQQAoApCBBSEDQQAoAoyBBSEEQQAoAoiBBSEFA0AgAEEIaigCACIGIABBGGooAgAiByAAQShqKAIAIgggAEE4aigCACIJIABBPGooAgAiCiAAQQxqKAIAIgsgAEEcaigCACIMIABBLGooAgAiDSAMIAsgCiANIAkgCCAHIAMgBmogAiAAQQRqKAIAIg5qIAUgBCACIANzcSACc2ogACgCACIPakH4yKq7fWpBB3cgBGoiECAEIANzcSADc2pB1u6exn5qQQx3IBBqIhEgECAEc3EgBHNqQdvhgaECakERdyARaiISaiAAQRRqKAIAIhMgEWogAEEQaigCACIUIBBqIAQgC2ogEiARIBBzcSAQc2pB7p33jXxqQRZ3IBJqIhAgEiARc3EgEXNqQa+f8Kt/akEHdyAQaiIRIBAgEnNxIBJzakGqjJ+8BGpBDHcgEWoiEiARIBBzcSAQc2pBk4zBwXpqQRF3IBJqIhVqIABBJGooAgAiFiASaiAAQSBqKAIAIhcgEWogDCAQaiAVIBIgEXNxIBFzakGBqppqakEWdyAVaiIQIBUgEnNxIBJzakHYsYLMBmpBB3cgEGoiESAQIBVzcSAVc2pBr++T2nhqQQx3IBFqIhIgESAQc3EgEHNqQbG3fWpBEXcgEmoiFWogAEE0aigCACIYIBJqIABBMGooAgAiGSARaiANIBBqIBUgEiARc3EgEXNqQb6v88p4akEWdyAVaiIQIBUgEnNxIBJzakGiosDcBmpBB3cgEGoiESAQIBVzcSAVc2pBk+PhbGpBDHcgEWoiFSARIBBzcSAQc2pBjofls3pqQRF3IBVqIhJqIAcgFWogDiARaiAKIBBqIBIgFSARc3EgEXNqQaGQ0M0EakEWdyASaiIQIBJzIBVxIBJzakHiyviwf2pBBXcgEGoiESAQcyAScSAQc2pBwOaCgnxqQQl3IBFqIhIgEXMgEHEgEXNqQdG0+bICakEOdyASaiIVaiAIIBJqIBMgEWogDyAQaiAVIBJzIBFxIBJzakGqj9vNfmpBFHcgFWoiECAVcyAScSAVc2pB3aC8sX1qQQV3IBBqIhEgEHMgFXEgEHNqQdOokBJqQQl3IBFqIhIgEXMgEHEgEXNqQYHNh8V9akEOdyASaiIVaiAJIBJqIBYgEWogFCAQaiAVIBJzIBFxIBJzakHI98++fmpBFHcgFWoiECAVcyAScSAVc2pB5puHjwJqQQV3IBBqIhEgEHMgFXEgEHNqQdaP3Jl8akEJdyARaiISIBFzIBBxIBFzakGHm9Smf2pBDncgEmoiFWogBiASaiAYIBFqIBcgEGogFSAScyARcSASc2pB7anoqgRqQRR3IBVqIhAgFXMgEnEgFXNqQYXSj896akEFdyAQaiIRIBBzIBVxIBBzakH4x75nakEJdyARaiISIBFzIBBxIBFzakHZhby7BmpBDncgEmoiFWogFyASaiATIBFqIBkgEGogFSAScyARcSASc2pBipmp6XhqQRR3IBVqIhAgFXMiFSASc2pBwvJoakEEdyAQaiIRIBVzakGB7ce7eGpBC3cgEWoiEiARcyIaIBBzakGiwvXsBmpBEHcgEmoiFWogFCASaiAOIBFqIAkgEGogFSAac2pBjPCUb2pBF3cgFWoiECAVcyIVIBJzakHE1PulempBBHcgEGoiESAVc2pBqZ/73gRqQQt3IBFqIhIgEXMiCSAQc2pB4JbttX9qQRB3IBJqIhVqIA8gEmogGCARaiAIIBBqIBUgCXNqQfD4/vV7akEXdyAVaiIQIBVzIhUgEnNqQcb97cQCakEEdyAQaiIRIBVzakH6z4TVfmpBC3cgEWoiEiARcyIIIBBzakGF4bynfWpBEHcgEmoiFWogGSASaiAWIBFqIAcgEGogFSAIc2pBhbqgJGpBF3cgFWoiESAVcyIQIBJzakG5oNPOfWpBBHcgEWoiEiAQc2pB5bPutn5qQQt3IBJqIhUgEnMiByARc2pB+PmJ/QFqQRB3IBVqIhBqIAwgFWogDyASaiAGIBFqIBAgB3NqQeWssaV8akEXdyAQaiIRIBVBf3NyIBBzakHExKShf2pBBncgEWoiEiAQQX9zciARc2pBl/+rmQRqQQp3IBJqIhAgEUF/c3IgEnNqQafH0Nx6akEPdyAQaiIVaiALIBBqIBkgEmogEyARaiAVIBJBf3NyIBBzakG5wM5kakEVdyAVaiIRIBBBf3NyIBVzakHDs+2qBmpBBncgEWoiECAVQX9zciARc2pBkpmz+HhqQQp3IBBqIhIgEUF/c3IgEHNqQf3ov39qQQ93IBJqIhVqIAogEmogFyAQaiAOIBFqIBUgEEF/c3IgEnNqQdG7kax4akEVdyAVaiIQIBJBf3NyIBVzakHP/KH9BmpBBncgEGoiESAVQX9zciAQc2pB4M2zcWpBCncgEWoiEiAQQX9zciARc2pBlIaFmHpqQQ93IBJqIhVqIA0gEmogFCARaiAYIBBqIBUgEUF/c3IgEnNqQaGjoPAEakEVdyAVaiIQIBJBf3NyIBVzakGC/c26f2pBBncgEGoiESAVQX9zciAQc2pBteTr6XtqQQp3IBFqIhIgEEF/c3IgEXNqQbul39YCakEPdyASaiIVIARqIBYgEGogFSARQX9zciASc2pBkaeb3H5qQRV3aiEEIBUgA2ohAyASIAJqIQIgESAFaiEFIABBwABqIQAgAUFAaiIBDQALQQAgAjYClIEFQQAgAzYCkIEFQQAgBDYCjIEFQQAgBTYCiIEFIAALjgUBB39BACgCgIEFQT9xIgBBgAE6AJiBBQJAAkACQCAAQT9zIgFBB0sNAAJAIABBP0YNACABQQNxIQFBACECAkAgAEE7Sw0AQTsgAGtBAnZBAWoiA0EDcSEEQQAhAgJAAkAgAEEvSw0AIABBgIEFaiEFIANBAnRB8ABxIQZBACECA0AgBSACaiIDQSFqQgA3AAAgA0EZakIANwAAIAYgAkEQaiICRw0ACyAERQ0BCyAEQQJ0IQUgAiAAakGAgQVqIQZBACEDA0AgBiADakEZakEANgAAIAUgA0EEaiIDRw0ACyACIANqIQILIAFFDQELIAIgAGpBmYEFaiEDA0AgA0EAOgAAIANBAWohAyABQX9qIgENAAsLQZiBBSECQZiBBUHAABADGkGAgQUhAUE3IQMMAQsgAEE3Rg0BQTYgAGsiAiEDAkAgAUEDcSIBRQ0AQQAgAWshAUEAIQMDQCADQc+BBWpBADoAACABIANBf2oiA0cNAAsgAiADaiEDCyACQQNJDQEgAEEBaiICQYCBBWohASACQZiBBWohAgJAIANBfWoiAEEEcQ0AIAIgA2oiBUEAOgAAIAEgA2pBFmpBADsAACAFQX1qQQA6AAAgA0F8aiEDCyAAQQRJDQELIAJBeWohAkF/IQUDQCACIANqIgBBB2pBADoAACABIANqIgZBFmpBADsAACAAQQNqQQA7AAAgBkESakEAOwAAIABBADoAACACQXhqIQIgAUF4aiEBIAMgBUEIaiIFRw0ACwtBAEEAKAKEgQU2AtSBBUEAQQAoAoCBBUEDdCIDNgLQgQVBACADNgKAgQVBmIEFQcAAEAMaQQBBACkCiIEFNwOAgQRBAEEAKQKQgQU3A4iBBAsGAEGAgQULMwBBAEL+uevF6Y6VmRA3ApCBBUEAQoHGlLqW8ermbzcCiIEFQQBCADcCgIEFIAAQAhAECwsMAQBBgIAECwSYAAAA";
var hash$d = "dc3031df";
var wasmJson$d = {
  name: name$d,
  data: data$d,
  hash: hash$d
};
var mutex$e = new Mutex();
function createMD5() {
  return WASMInterface(wasmJson$d, 16).then((wasm) => {
    wasm.init();
    const obj = {
      init: () => {
        wasm.init();
        return obj;
      },
      update: (data) => {
        wasm.update(data);
        return obj;
      },
      // biome-ignore lint/suspicious/noExplicitAny: Conflict with IHasher type
      digest: (outputType) => wasm.digest(outputType),
      save: () => wasm.save(),
      load: (data) => {
        wasm.load(data);
        return obj;
      },
      blockSize: 64,
      digestSize: 16
    };
    return obj;
  });
}
var mutex$d = new Mutex();
var mutex$c = new Mutex();
var mutex$b = new Mutex();
var mutex$a = new Mutex();
var mutex$9 = new Mutex();
var mutex$8 = new Mutex();
var mutex$7 = new Mutex();
var mutex$6 = new Mutex();
var mutex$5 = new Mutex();
var seedBuffer$2 = new Uint8Array(8);
var mutex$4 = new Mutex();
var seedBuffer$1 = new Uint8Array(8);
var mutex$3 = new Mutex();
var seedBuffer = new Uint8Array(8);
var mutex$2 = new Mutex();
var mutex$1 = new Mutex();
var mutex = new Mutex();

// src/md5.js
var PIECE = 4 * 1024 * 1024;
var AHEAD = 4;
var toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
async function md5OfFile(file, onProgress) {
  const hasher = await createMD5();
  hasher.init();
  const reads = [];
  let next = 0;
  const readAhead = () => {
    while (reads.length < AHEAD && next < file.size) {
      const start = next;
      next = Math.min(file.size, start + PIECE);
      reads.push(file.slice(start, next).arrayBuffer());
    }
  };
  readAhead();
  let offset = 0;
  while (reads.length) {
    const piece = await reads.shift();
    if (piece.byteLength === 0) throw new Error("the file became shorter while it was read");
    readAhead();
    hasher.update(new Uint8Array(piece));
    offset += piece.byteLength;
    onProgress(offset);
  }
  return toHex(hasher.digest("binary"));
}

// src/put.js
function putFile(url, file, headers, onProgress) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => resolve({ status: xhr.status, body: String(xhr.responseText || "").slice(0, 4e3) });
    xhr.onerror = () => resolve({ status: 0, body: "" });
    xhr.onabort = () => resolve({ status: 0, body: "" });
    xhr.send(file);
  });
}
async function stillReadable(file) {
  try {
    await file.slice(0, 1).arrayBuffer();
    await file.slice(Math.max(0, file.size - 1)).arrayBuffer();
    return true;
  } catch (e) {
    return false;
  }
}

// src/relay.js
function relayFile(model, id, file, { chunk, window: window2 }, mailbox, onProgress) {
  return new Promise((resolve, reject) => {
    let next = 0;
    let acked = 0;
    let inflight = 0;
    let failed = false;
    const fail = (e) => {
      if (!failed) {
        failed = true;
        mailbox.onAck = null;
        reject(e);
      }
    };
    const pump = () => {
      while (!failed && inflight < window2 && next < file.size) {
        const offset = next;
        next = Math.min(file.size, offset + chunk);
        inflight += 1;
        file.slice(offset, next).arrayBuffer().then(
          (buf) => {
            if (!failed) model.send({ type: "chunk", id, offset }, void 0, [buf]);
          },
          fail
        );
      }
    };
    mailbox.onAck = (msg) => {
      inflight -= 1;
      acked += Math.min(chunk, file.size - msg.offset);
      onProgress(acked);
      if (acked >= file.size) {
        mailbox.onAck = null;
        resolve();
      } else pump();
    };
    mailbox.onEnd = () => fail(new Error("the kernel ended the transfer"));
    if (file.size === 0) {
      mailbox.onAck = null;
      resolve();
    } else pump();
  });
}

// src/kernel_watch.js
function watchKernel(model, onGone) {
  let gone = "";
  const mark = (why) => {
    if (!gone) {
      gone = why;
      onGone(why);
    }
  };
  const restarted = () => mark("restarted");
  const closed = () => mark("closed");
  model.on("comm_live_update", restarted);
  model.on("comm:close", closed);
  const manager = model.widget_manager;
  const session = manager && manager.context && manager.context.sessionContext;
  const kernelAtStart = currentKernel(manager);
  const onStatus = (_ctx, status) => {
    if (["restarting", "autorestarting", "starting"].includes(status)) mark("restarted");
    else if (status === "dead") mark("shut down");
  };
  const onKernel = (_ctx, change) => mark(change && change.newValue ? "changed" : "shut down");
  if (session && session.statusChanged) {
    session.statusChanged.connect(onStatus);
    session.kernelChanged.connect(onKernel);
  }
  return {
    // Checked before taking files, for what no event announced.
    check() {
      if (gone) return gone;
      if (manager && "kernel" in manager) {
        const kernel = currentKernel(manager);
        if (!kernel || kernel.isDisposed || kernel.status === "dead") mark("shut down");
        else if (kernelAtStart && kernel !== kernelAtStart) mark("changed");
      }
      return gone;
    },
    // Resolves to why the panel is stale, or "" when the kernel still has its comm (or
    // cannot be asked: then the files go ahead as before).
    async confirm() {
      if (this.check()) return gone;
      const ref = model.get("_comm_ref");
      const kernel = currentKernel(manager);
      if (!ref || !kernel || typeof kernel.requestCommInfo !== "function") return gone;
      try {
        const reply = await kernel.requestCommInfo({ target_name: "jupyter.widget" });
        const content = reply && reply.content || {};
        if (content.status === "ok" && content.comms && !(ref in content.comms)) mark("gone");
      } catch (e) {
        mark("gone");
      }
      return gone;
    },
    dispose() {
      model.off("comm_live_update", restarted);
      model.off("comm:close", closed);
      if (session && session.statusChanged) {
        session.statusChanged.disconnect(onStatus);
        session.kernelChanged.disconnect(onKernel);
      }
    }
  };
}
function currentKernel(manager) {
  try {
    return manager && "kernel" in manager ? manager.kernel : null;
  } catch (e) {
    return null;
  }
}

// src/copy.js
async function copyText(text) {
  try {
    if (navigator.clipboard) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch (e) {
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.cssText = "position: fixed; left: -9999px; top: 0";
  document.body.appendChild(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch (e) {
    ok = false;
  }
  area.remove();
  return ok;
}

// src/view.js
function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.appendChild(c);
  return node;
}
var button = (cls, text, title) => el("button", { class: `jupyter-button widget-button ${cls}`, text, title, type: "button" });
function layout(root) {
  root.classList.add("alloy-upload-panel");
  const input = el("input", { type: "file", multiple: "", class: "alloy-file-input" });
  const browse = button("alloy-browse", "Browse…", "Choose files on this computer");
  const zone = el("div", { class: "alloy-drop-zone", tabindex: "0" }, [
    el("span", { class: "alloy-drop-text", text: "Drop files here, or " }),
    browse,
    input
  ]);
  const path = el("input", {
    type: "text",
    class: "alloy-path widget-input",
    placeholder: "or a file, folder or glob on the kernel, e.g. data/ or data/*.csv — Enter uploads"
  });
  const pathButton = button("alloy-path-upload", "Upload from kernel", "Upload what the path names on the kernel's filesystem");
  const reset = button("alloy-reset", "Clear", "Forget finished rows");
  const stale = el("div", { class: "alloy-status alloy-stale", "data-kind": "error", hidden: "" });
  const note = el("div", { class: "alloy-note" });
  const table = el("table", { class: "alloy-rows" });
  const summary = el("div", { class: "alloy-status alloy-summary", hidden: "" });
  root.append(
    stale,
    zone,
    el("div", { class: "alloy-path-row" }, [path, pathButton, reset]),
    note,
    table,
    summary
  );
  return { input, browse, zone, path, pathButton, reset, stale, note, table, summary };
}
var FINISHED = ["done", "already stored", "failed"];
var percent = (r) => r.total > 0 ? Math.min(100, Math.floor(100 * r.done / r.total)) : 0;
function bar(r) {
  const stored = r.stage === "done" || r.stage === "already stored";
  const max = Math.max(1, r.total);
  const value = stored ? max : Math.min(r.done, r.total);
  return el("progress", { max: String(max), value: String(value) });
}
function keyCell(r) {
  const copy = button("alloy-copy", "Copy", `Copy the s3Key ${r.s3_key}`);
  copy.addEventListener("click", async () => {
    copy.textContent = await copyText(r.s3_key) ? "Copied" : "Copy failed";
    setTimeout(() => {
      copy.textContent = "Copy";
    }, 1500);
  });
  const under = r.s3_key.indexOf("_");
  const cut = under > 0 ? under + 1 : Math.max(0, r.s3_key.length - 24);
  return [
    copy,
    el("span", { class: "alloy-key", title: r.s3_key }, [
      el("span", { class: "alloy-key-head", text: r.s3_key.slice(0, cut) }),
      el("span", { class: "alloy-key-tail", text: r.s3_key.slice(cut) })
    ])
  ];
}
function row(r) {
  const finished = FINISHED.includes(r.stage);
  const pace = [r.rate, r.left].filter(Boolean).join(" · ");
  const detail = [];
  if (r.error) detail.push(el("span", { class: "alloy-error", text: r.error, title: r.error }));
  if (r.s3_key) detail.push(...keyCell(r));
  if (r.note && !r.error) detail.push(el("span", { class: "alloy-row-note", text: r.note, title: r.note }));
  return el("tr", { class: "alloy-row", "data-name": r.name, "data-stage": r.stage }, [
    el("td", { class: "alloy-name", text: r.name, title: r.name }),
    el("td", { class: "alloy-size", text: r.size_text }),
    el("td", { class: "alloy-stage", text: r.stage }),
    el("td", { class: "alloy-progress" }, [
      bar(r),
      el("span", { class: "alloy-pct", text: finished ? "" : `${percent(r)}%` }),
      el("span", { class: "alloy-pace", text: finished ? "" : pace })
    ]),
    el("td", { class: "alloy-detail" }, [el("div", { class: "alloy-detail-line" }, detail)])
  ]);
}
function draw(parts, rows, message, summary) {
  parts.note.textContent = message;
  parts.note.hidden = !message;
  const head = el("tr", {}, ["file", "size", "stage", "progress", "s3Key / details"].map((h) => el("th", { text: h })));
  const before = parts.drawn || [];
  parts.drawn = rows.map((r, i) => {
    const json = JSON.stringify(r);
    return before[i] && before[i].json === json ? before[i] : { json, node: row(r) };
  });
  parts.table.replaceChildren(head, ...parts.drawn.map((d) => d.node));
  parts.table.hidden = rows.length === 0;
  const text = summary && summary.text || "";
  parts.summary.textContent = text;
  parts.summary.hidden = !text;
  parts.summary.dataset.kind = summary && summary.failed ? "error" : "info";
}
function showStale(parts, text) {
  parts.stale.textContent = text;
  parts.stale.hidden = false;
  parts.zone.classList.add("alloy-disabled");
  parts.zone.setAttribute("aria-disabled", "true");
  parts.zone.querySelector(".alloy-drop-text").textContent = "This panel no longer takes files. ";
  for (const c of [parts.input, parts.browse, parts.path, parts.pathButton, parts.reset]) c.disabled = true;
}

// src/upload_panel.js
var PROGRESS_EVERY_MS = 400;
var ANSWER_WITHIN_MS = 15e3;
var RERUN = "Re-run the cell that made it to get a working panel.";
var STALE = {
  restarted: `The kernel was restarted, so this panel is no longer connected. ${RERUN}`,
  "shut down": `The kernel was shut down, so this panel is no longer connected. ${RERUN}`,
  changed: `The notebook has a different kernel now, so this panel is no longer connected. ${RERUN}`,
  closed: `This panel was closed on the kernel. ${RERUN}`,
  gone: `The kernel no longer has this panel (it was restarted or shut down). ${RERUN}`,
  unsent: `This panel cannot reach its kernel any more (restarted or shut down?). ${RERUN}`
};
var SLOW = "The kernel has not answered yet: it may be busy running another cell (the files start once it is free). If it was restarted or shut down, re-run the cell that made this panel.";
function render({ model, el: root }) {
  const parts = layout(root);
  const boxes = /* @__PURE__ */ new Map();
  const unanswered = /* @__PURE__ */ new Map();
  const kernel = watchKernel(model, (why) => stop(STALE[why] || STALE.unsent));
  let slow = false;
  const redraw = () => {
    const message = slow ? SLOW : model.get("message");
    draw(parts, model.get("rows"), message, model.get("summary"));
  };
  const slowAfterWait = () => setTimeout(() => {
    slow = true;
    redraw();
  }, ANSWER_WITHIN_MS);
  const answered = () => {
    if (slow && unanswered.size === 0) {
      slow = false;
      redraw();
    }
  };
  model.on("msg:custom", (msg) => {
    if (msg.type === "added") {
      clearTimeout(unanswered.get(msg.file));
      unanswered.delete(msg.file);
      answered();
      return;
    }
    const box = boxes.get(msg.id);
    if (box) box.deliver(msg);
  });
  const reporter = (id, stage) => {
    let last = 0;
    return (done) => {
      const now = Date.now();
      if (now - last >= PROGRESS_EVERY_MS) {
        last = now;
        model.send({ type: "progress", id, stage, done });
      }
    };
  };
  async function transfer(file, id, box) {
    const md5 = await md5OfFile(file, reporter(id, "hashing"));
    model.send({ type: "hashed", id, md5 });
    for (; ; ) {
      const msg = await box.next();
      if (msg.type === "finished") return;
      if (msg.type === "put") {
        const headers = { "Content-Type": msg.mime, "Content-MD5": msg.md5 };
        const { status, body } = await putFile(msg.url, file, headers, reporter(id, "uploading"));
        const readable = status === 0 ? await stillReadable(file) : true;
        model.send({ type: "put-result", id, status, body, readable });
      } else if (msg.type === "relay") {
        await relayFile(model, id, file, msg, box, () => {
        });
      }
    }
  }
  let counter = 0;
  const session = Math.random().toString(36).slice(2, 8);
  async function handle(file) {
    const id = `${session}-${counter += 1}`;
    const box = new Mailbox();
    boxes.set(id, box);
    unanswered.set(id, slowAfterWait());
    try {
      model.send({ type: "add", id, name: file.name, size: file.size, mime: file.type || "" });
    } catch (e) {
      stop(STALE.unsent);
      boxes.delete(id);
      return;
    }
    try {
      await transfer(file, id, box);
    } catch (e) {
      try {
        model.send({ type: "browser-error", id, error: String(e && e.message || e), kind: e && e.name });
      } catch (_gone) {
        stop(STALE.unsent);
      }
    } finally {
      boxes.delete(id);
    }
  }
  const waiting = [];
  let active = 0;
  function startMore() {
    while (active < Math.max(1, model.get("parallel")) && waiting.length) {
      active += 1;
      handle(waiting.shift()).finally(() => {
        active -= 1;
        startMore();
      });
    }
  }
  function stop(text) {
    waiting.length = 0;
    for (const timer of unanswered.values()) clearTimeout(timer);
    unanswered.clear();
    slow = false;
    showStale(parts, text);
    redraw();
  }
  const enqueue = async (files) => {
    if (!files.length || kernel.check()) return;
    const timer = slowAfterWait();
    const gone = await kernel.confirm();
    clearTimeout(timer);
    answered();
    if (gone) return;
    waiting.push(...files);
    startMore();
  };
  const { input, browse, zone, path, pathButton, reset } = parts;
  input.addEventListener("change", () => {
    enqueue(Array.from(input.files));
    input.value = "";
  });
  browse.addEventListener("click", (e) => {
    e.preventDefault();
    input.click();
  });
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("alloy-drag");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("alloy-drag"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("alloy-drag");
    enqueue(Array.from(e.dataTransfer.files));
  });
  const sendPaths = async () => {
    if (!await kernel.confirm()) model.send({ type: "paths", pattern: path.value });
  };
  pathButton.addEventListener("click", sendPaths);
  path.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || e.isComposing) return;
    e.preventDefault();
    e.stopPropagation();
    sendPaths();
  });
  reset.addEventListener("click", () => {
    if (!kernel.check()) model.send({ type: "reset" });
  });
  model.on("change:rows", redraw);
  model.on("change:message", redraw);
  model.on("change:summary", redraw);
  redraw();
  kernel.check();
  return () => {
    kernel.dispose();
    for (const timer of unanswered.values()) clearTimeout(timer);
  };
}
var upload_panel_default = { render };
export {
  upload_panel_default as default
};
