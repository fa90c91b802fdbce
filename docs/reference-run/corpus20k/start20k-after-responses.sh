cd /work/ref
while pgrep -f corpus20k-train-responses.sh > /dev/null; do sleep 20; done
[ $(wc -l < data/corpus20k/train.responses.jsonl) -gt 12000 ] || exit 1
bash run20k-cont.sh
