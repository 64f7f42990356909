#!/bin/sh
# Pre-quantized models in both ONNX forms against ONNX Runtime: scripts/make_quant_models.py
# writes a small CNN in the QDQ form (uint8 and int8 activations, per-channel int8 weights),
# in the QOperator form (QLinearConv, QLinearAdd, QLinearMatMul) and with ConvInteger and
# MatMulInteger; ONNX Runtime (scripts/ort_run.js) and `tessera build` + `tessera run` run
# each on the same input, and the integer outputs must be equal (pb_compare --atol 0; the
# requantization follows ONNX Runtime's float multiplier, so no unit of difference is
# allowed). The QDQ models must have been fused: `tessera graph --after fuse_qdq` shows
# tessera.QConv, tessera.QAdd and tessera.QDense and no float Conv, Gemm or MatMul left,
# and the uint8 models' convolutions must run on the int8 conv2d template (build note).
# Then the bad models (missing scale, wrong zero-point dtype, per-channel scale of the
# wrong length) must be refused by errors naming the node and the culprit.
# Skipped (77) without python3's onnx and torch or without onnxruntime-node.
#
#   test_quant_models.sh SOURCE_DIR TESSERA PB_COMPARE WORK_DIR
set -u
src=$1
tessera=$2
pb_compare=$3
dir=$4

if ! /usr/bin/python3 -c 'import onnx, torch' >/dev/null 2>&1; then
    echo "SKIP: /usr/bin/python3 lacks onnx or torch"
    exit 77
fi
if ! command -v node >/dev/null 2>&1; then
    echo "SKIP: no node (scripts/install-deps.sh installs nodejs and npm)"
    exit 77
fi
rm -rf "$dir"
mkdir -p "$dir/ort" "$dir/tessera" || exit 1
/usr/bin/python3 "$src/scripts/make_quant_models.py" "$dir" || exit 1
status=0
for name in $(/usr/bin/python3 "$src/scripts/make_quant_models.py" --list); do
    inputs=""
    for f in "$dir/$name".input_*.pb; do inputs="$inputs --input $f"; done
    node "$src/scripts/ort_run.js" "$dir/$name.onnx" $inputs --save-outputs "$dir/ort/$name" \
        >"$dir/$name.ort.log" 2>&1
    rc=$?
    [ $rc -eq 77 ] && exit 77 # onnxruntime-node is not installed: ort_run.js said so
    if [ $rc -ne 0 ]; then
        echo "FAIL: ONNX Runtime could not run $name:"
        tail -n 5 "$dir/$name.ort.log"
        status=1
        continue
    fi
    if ! "$tessera" build "$dir/$name.onnx" -o "$dir/$name.so" >"$dir/$name.build.log" 2>&1 ||
        ! "$tessera" run "$dir/$name.so" $inputs --save-outputs "$dir/tessera/$name" \
            >"$dir/$name.run.log" 2>&1; then
        echo "FAIL: tessera could not build or run $name:"
        tail -n 10 "$dir/$name.build.log" "$dir/$name.run.log"
        status=1
        continue
    fi
    echo "$name: $(grep '^kernels:' "$dir/$name.build.log")"
    "$pb_compare" --atol 0 --rtol 0 "$dir/tessera/$name" "$dir/ort/$name" || status=1
done

# uint8 activations and symmetric weights: both convolutions on an int8 template, the
# activation zero point folded into the bias
for name in qdq_u8 qop_u8; do
    count=$(grep -c 'int8 template conv2d_NCHWc_int8.*folded into the int32 bias' \
        "$dir/$name.build.log")
    if [ "$count" -ne 2 ]; then
        echo "FAIL: $name: $count of its 2 convolutions on an int8 template:"
        grep 'group' "$dir/$name.build.log"
        status=1
    fi
done

for name in qdq_u8 qdq_s8; do
    graph=$("$tessera" graph "$dir/$name.onnx" --after fuse_qdq 2>&1)
    for op in tessera.QConv tessera.QAdd tessera.QDense; do
        if ! printf '%s\n' "$graph" | grep -q "= $op "; then
            echo "FAIL: $name: no $op after fuse_qdq"
            status=1
        fi
    done
    if printf '%s\n' "$graph" | grep -Eq '= (Conv|Gemm|MatMul|Add) '; then
        echo "FAIL: $name: a float operator is left after fuse_qdq:"
        printf '%s\n' "$graph" | grep -E '= (Conv|Gemm|MatMul|Add) '
        status=1
    fi
done

/usr/bin/python3 "$src/scripts/make_quant_models.py" --bad "$dir/bad" >"$dir/bad.list" || exit 1
while read -r name words; do
    if message=$("$tessera" graph "$dir/bad/$name.onnx" 2>&1); then
        echo "FAIL: $name was imported; it must be refused"
        status=1
        continue
    fi
    echo "$name: $(printf '%s\n' "$message" | tail -n 1)"
    old_ifs=$IFS
    IFS='|'
    for word in $words; do
        case $message in
        *"$word"*) ;;
        *) echo "FAIL: $name: the error does not name \"$word\""; status=1 ;;
        esac
    done
    IFS=$old_ifs
done <"$dir/bad.list"
exit $status
