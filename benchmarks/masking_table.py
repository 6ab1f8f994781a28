"""The first paper's Tables 2 and 3 (masked training, A / AV inference) on a corpus or a COGMEN pickle.

Runs COGMEN-A, COGMEN-AV, COGMEN-Mask (utterance and feature granularity) and COGMEN-A + uni-modal
mask, each with the context graph (Table 2) and a disjoint graph (Table 3), over folds × seeds,
scores every model with AV and A-only input, and prints weighted F1 as mean ± std.

    # the embedded synthetic corpus (features extracted with `emowb features ... --set egemaps --set openface-au`)
    python benchmarks/masking_table.py /tmp/synth --out runs/masking --seeds 0,1,2

    # COGMEN's real pickle: imported into OUT/corpus, COGMEN's own train/dev/test split, the
    # reference model's behaviour and settings (preset "reference": 55 epochs, raw features)
    python benchmarks/masking_table.py IEMOCAP_features_4.pkl --out runs/cogmen-table

Every option of ``emowb experiment`` applies (``--help``); this script is that command.
"""

import sys

from emowb.cli import main

if __name__ == "__main__":
    sys.exit(main(["experiment", *sys.argv[1:]]))
