#!/usr/bin/env node
// The reference for whole models: runs an ONNX model with ONNX Runtime (onnxruntime-node,
// installed by scripts/install-ort.sh) on the CPU, with inputs and outputs as ONNX
// TensorProto files, and times it. The model tests, benchmarks/bench_models and `make demo`
// compare Tessera's outputs and latency with what this prints and writes.
//
//   node scripts/ort_run.js MODEL.onnx [--input FILE.pb]... [--random-inputs DIR]
//        [--input-shape NAME=D0xD1x...]... [--seed S] [--save-outputs DIR]
//        [--threads T] [--repeat N] [--warmup W] [--ort-dir DIR]
//
// --input files bind the model's inputs in order (initializers listed as inputs excluded,
// as ORT and `tessera run` count them). Without them the inputs are seeded random normal
// floats (symbolic dimensions 1 unless --input-shape fixes them); --random-inputs DIR
// writes them to DIR/input_0.pb ... so another runner can be given the same. Outputs go to
// DIR/output_0.pb, output_1.pb ... in the graph's output order. The session runs with
// T intra-op threads (default 1), one inter-op thread and sequential execution. With
// --repeat N it runs W warm-up runs (default 1) then N timed ones and prints
//   ort: threads=T runs=N median_ms=M min_ms=m
// The onnxruntime-node package is looked for in --ort-dir, $TESSERA_ORT_DIR, the cache
// scripts/install-ort.sh uses, then Node's own paths; exit status 77 when it is missing.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

const SKIP = 77;

// ---- TensorProto, the few fields a dense tensor needs (onnx.proto3) --------------------

// TensorProto.DataType -> [ORT type name, typed-array constructor]
const ONNX_TYPES = {
    1: ['float32', Float32Array], 2: ['uint8', Uint8Array], 3: ['int8', Int8Array],
    4: ['uint16', Uint16Array], 5: ['int16', Int16Array], 6: ['int32', Int32Array],
    7: ['int64', BigInt64Array], 9: ['bool', Uint8Array], 10: ['float16', Uint16Array],
    11: ['float64', Float64Array], 12: ['uint32', Uint32Array], 13: ['uint64', BigUint64Array],
};
const ORT_TO_ONNX = {};
for (const [code, [name]] of Object.entries(ONNX_TYPES)) ORT_TO_ONNX[name] = Number(code);

class Reader {
    constructor(buf, where) { this.buf = buf; this.pos = 0; this.where = where; }
    done() { return this.pos >= this.buf.length; }
    varint() {
        let result = 0n, shift = 0n;
        for (;;) {
            if (this.pos >= this.buf.length) throw new Error(`${this.where}: truncated varint`);
            const b = this.buf[this.pos++];
            result |= BigInt(b & 0x7f) << shift;
            if (!(b & 0x80)) return result;
            shift += 7n;
            if (shift > 63n) throw new Error(`${this.where}: varint longer than 10 bytes`);
        }
    }
    bytes(n) {
        if (n < 0 || this.pos + n > this.buf.length) throw new Error(`${this.where}: truncated field`);
        const out = this.buf.subarray(this.pos, this.pos + n);
        this.pos += n;
        return out;
    }
    skip(wireType) {
        switch (wireType) {
        case 0: this.varint(); return;
        case 1: this.bytes(8); return;
        case 2: this.bytes(Number(this.varint())); return;
        case 5: this.bytes(4); return;
        default: throw new Error(`${this.where}: wire type ${wireType} is not protobuf`);
        }
    }
}

// Values of a repeated scalar field, packed (wire type 2) or one at a time.
function readRepeated(r, wireType, width, decode, out) {
    if (wireType === 2) {
        const body = new Reader(r.bytes(Number(r.varint())), r.where);
        while (!body.done()) out.push(width ? decode(body.bytes(width)) : decode(body.varint()));
    } else {
        out.push(width ? decode(r.bytes(width)) : decode(r.varint()));
    }
}

const asInt64 = (v) => BigInt.asIntN(64, v);
const asF32 = (b) => Buffer.from(b).readFloatLE(0);
const asF64 = (b) => Buffer.from(b).readDoubleLE(0);

function decodeTensor(buf, where) {
    const r = new Reader(buf, where);
    const t = { dims: [], dataType: 0, name: '', raw: null, values: [] };
    while (!r.done()) {
        const key = Number(r.varint());
        const field = key >>> 3, wireType = key & 7;
        switch (field) {
        case 1: readRepeated(r, wireType, 0, (v) => Number(asInt64(v)), t.dims); break;
        case 2: t.dataType = Number(r.varint()); break;
        case 4: readRepeated(r, wireType, 4, asF32, t.values); break;
        case 5: readRepeated(r, wireType, 0, (v) => Number(BigInt.asIntN(32, v)), t.values); break;
        case 7: readRepeated(r, wireType, 0, asInt64, t.values); break;
        case 8: t.name = r.bytes(Number(r.varint())).toString('utf8'); break;
        case 9: t.raw = r.bytes(Number(r.varint())); break;
        case 10: readRepeated(r, wireType, 8, asF64, t.values); break;
        case 11: readRepeated(r, wireType, 0, (v) => BigInt.asUintN(64, v), t.values); break;
        case 13: case 14: throw new Error(`${where}: external data is not supported`);
        default: r.skip(wireType);
        }
    }
    return t;
}

function tensorFromProto(ort, file) {
    const t = decodeTensor(fs.readFileSync(file), file);
    const type = ONNX_TYPES[t.dataType];
    if (!type) throw new Error(`${file}: data type ${t.dataType} is not supported`);
    const [ortType, Ctor] = type;
    const count = t.dims.reduce((a, b) => a * b, 1);
    let data;
    if (t.raw) {
        if (t.raw.length !== count * Ctor.BYTES_PER_ELEMENT)
            throw new Error(`${file}: raw_data holds ${t.raw.length} bytes, the shape needs ` +
                            `${count * Ctor.BYTES_PER_ELEMENT}`);
        data = new Ctor(count);
        new Uint8Array(data.buffer).set(t.raw);
    } else {
        if (t.values.length !== count)
            throw new Error(`${file}: ${t.values.length} values for a shape of ${count}`);
        data = Ctor.from(t.values);
    }
    if (ortType === 'bool') data = Uint8Array.from(data, (v) => (v ? 1 : 0));
    return { name: t.name, tensor: new ort.Tensor(ortType, data, t.dims) };
}

function varint(v) {
    let x = BigInt.asUintN(64, BigInt(v));
    const out = [];
    do {
        let b = Number(x & 0x7fn);
        x >>= 7n;
        if (x) b |= 0x80;
        out.push(b);
    } while (x);
    return Buffer.from(out);
}

// A dense tensor as a TensorProto: dims (packed), data_type, name, raw_data.
function encodeTensor(name, tensor) {
    const code = ORT_TO_ONNX[tensor.type];
    if (!code) throw new Error(`output "${name}": ORT type ${tensor.type} is not supported`);
    const dims = Buffer.concat(tensor.dims.map(varint));
    const data = tensor.data;
    const raw = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const nameBytes = Buffer.from(name, 'utf8');
    return Buffer.concat([
        Buffer.from([0x0a]), varint(dims.length), dims,       // 1: dims, packed
        Buffer.from([0x10]), varint(code),                    // 2: data_type
        Buffer.from([0x42]), varint(nameBytes.length), nameBytes, // 8: name
        Buffer.from([0x4a]), varint(raw.length), raw,         // 9: raw_data
    ]);
}

// ---- seeded random inputs ---------------------------------------------------------------

function mulberry32(seed) {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

function randomInput(ort, meta, shapes, random) {
    if (!meta.isTensor || meta.type !== 'float32')
        throw new Error(`input "${meta.name}" is ${meta.type}: give it with --input FILE.pb`);
    const dims = shapes[meta.name] ||
        meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
    const count = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) { // Box-Muller: standard normal values
        const u = Math.max(random(), 1e-12), v = random();
        data[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }
    return new ort.Tensor('float32', data, dims);
}

// ---- command line -----------------------------------------------------------------------

const USAGE = 'usage: ort_run.js MODEL.onnx [--input FILE.pb]... [--random-inputs DIR]\n' +
    '       [--input-shape NAME=D0xD1x...]... [--seed S] [--save-outputs DIR]\n' +
    '       [--threads T] [--repeat N] [--warmup W] [--ort-dir DIR]';

function positiveInt(flag, text, min) {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new Error(`${flag} '${text}': expected an integer >= ${min}`);
    return n;
}

function parseArgs(argv) {
    const a = { model: null, inputs: [], shapes: {}, seed: 0, randomDir: null, saveDir: null,
                threads: 1, repeat: 0, warmup: 1, ortDir: null };
    for (let i = 0; i < argv.length; i++) {
        const flag = argv[i];
        const value = () => {
            if (i + 1 >= argv.length) throw new Error(`${flag} needs a value`);
            return argv[++i];
        };
        switch (flag) {
        case '--input': a.inputs.push(value()); break;
        case '--random-inputs': a.randomDir = value(); break;
        case '--input-shape': {
            const m = /^([^=]+)=(\d+(?:x\d+)*)$/.exec(value());
            if (!m) throw new Error(`--input-shape '${argv[i]}': expected NAME=D0xD1x...`);
            a.shapes[m[1]] = m[2].split('x').map(Number);
            break;
        }
        case '--seed': a.seed = positiveInt(flag, value(), 0); break;
        case '--save-outputs': a.saveDir = value(); break;
        case '--threads': a.threads = positiveInt(flag, value(), 1); break;
        case '--repeat': a.repeat = positiveInt(flag, value(), 0); break;
        case '--warmup': a.warmup = positiveInt(flag, value(), 0); break;
        case '--ort-dir': a.ortDir = value(); break;
        case '-h': case '--help': console.log(USAGE); process.exit(0); break;
        default:
            if (flag.startsWith('-') || a.model) throw new Error(`unexpected argument '${flag}'\n${USAGE}`);
            a.model = flag;
        }
    }
    if (!a.model) throw new Error(`no model given\n${USAGE}`);
    return a;
}

function loadOrt(ortDir) {
    const cache = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'),
                            'tessera', 'ort');
    const dirs = [ortDir, process.env.TESSERA_ORT_DIR, cache].filter(Boolean);
    for (const dir of dirs) {
        const pkg = path.join(dir, 'node_modules', 'onnxruntime-node');
        if (fs.existsSync(pkg)) return require(pkg);
    }
    try {
        return require('onnxruntime-node');
    } catch (e) {
        console.log(`SKIP: onnxruntime-node not found in ${dirs.join(', ')} nor Node's paths ` +
                    '(scripts/install-ort.sh installs it)');
        process.exit(SKIP);
    }
}

function median(sorted) {
    const n = sorted.length;
    return n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

async function main() {
    const args = parseArgs(process.argv.slice(2));
    const ort = loadOrt(args.ortDir);
    const session = await ort.InferenceSession.create(args.model, {
        executionProviders: ['cpu'], intraOpNumThreads: args.threads, interOpNumThreads: 1,
        executionMode: 'sequential', graphOptimizationLevel: 'all', logSeverityLevel: 3,
    });
    const names = session.inputNames;
    if (args.inputs.length && args.inputs.length !== names.length)
        throw new Error(`${args.model} has ${names.length} inputs (${names.join(', ')}); ` +
                        `${args.inputs.length} --input files given`);
    const feeds = {};
    const random = mulberry32(args.seed);
    names.forEach((name, i) => {
        if (args.inputs.length) {
            feeds[name] = tensorFromProto(ort, args.inputs[i]).tensor;
            return;
        }
        const meta = (session.inputMetadata || []).find((m) => m.name === name) ||
            { name, isTensor: true, type: 'float32', shape: args.shapes[name] || [] };
        if (!meta.shape.length && !args.shapes[name])
            throw new Error(`input "${name}": no shape known; give --input-shape ${name}=...`);
        feeds[name] = randomInput(ort, meta, args.shapes, random);
        if (args.randomDir) {
            fs.mkdirSync(args.randomDir, { recursive: true });
            fs.writeFileSync(path.join(args.randomDir, `input_${i}.pb`), encodeTensor(name, feeds[name]));
        }
    });

    const results = await session.run(feeds);
    if (args.saveDir) {
        fs.mkdirSync(args.saveDir, { recursive: true });
        session.outputNames.forEach((name, i) => {
            fs.writeFileSync(path.join(args.saveDir, `output_${i}.pb`), encodeTensor(name, results[name]));
        });
    }
    if (args.repeat > 0) {
        for (let i = 0; i < args.warmup; i++) await session.run(feeds);
        const times = [];
        for (let i = 0; i < args.repeat; i++) {
            const start = process.hrtime.bigint();
            await session.run(feeds);
            times.push(Number(process.hrtime.bigint() - start) / 1e6);
        }
        times.sort((x, y) => x - y);
        console.log(`ort: threads=${args.threads} runs=${args.repeat} ` +
                    `median_ms=${median(times).toFixed(3)} min_ms=${times[0].toFixed(3)}`);
    }
}

main().catch((e) => {
    console.error(`ort_run: ${e.message}`);
    process.exit(1);
});
