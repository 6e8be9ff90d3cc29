"""Generate the synthetic LiDAR BEV data set in mmdet3d's info format.

    python tools/create_synthetic_data.py --out-dir data/synthetic --num-train 300 --num-val 60

Writes ``synthetic_infos_{train,val}.pkl``, ``points/*.bin`` (key frames), ``sweeps/*.bin`` (the
earlier sweeps) and ``synthetic_meta.json``. The same arguments write identical files.
``--if-missing`` skips the work when the folder already holds a data set made with the same
arguments.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bev_losses.datasets.synthetic import (NUM_SWEEPS, OBJECTS_PER_FRAME,  # noqa: E402
                                           SWEEP_INTERVAL, ensure_synthetic_dataset,
                                           generate_synthetic_dataset)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out-dir', default='data/synthetic', help='output folder')
    parser.add_argument('--num-train', type=int, default=300, help='training frames')
    parser.add_argument('--num-val', type=int, default=60, help='validation frames')
    parser.add_argument('--seed', type=int, default=0, help='base random seed')
    parser.add_argument('--num-beams', type=int, default=32, help='LiDAR beams')
    parser.add_argument('--num-azimuth', type=int, default=900,
                        help='azimuth steps per revolution')
    parser.add_argument('--objects', type=int, nargs=2, default=OBJECTS_PER_FRAME,
                        metavar=('MIN', 'MAX'),
                        help='labelled objects placed per frame (default: %(default)s)')
    parser.add_argument('--num-sweeps', type=int, default=NUM_SWEEPS,
                        help='earlier sweeps per key frame (default: %(default)s)')
    parser.add_argument('--sweep-interval', type=float, default=SWEEP_INTERVAL,
                        help='seconds between sweeps (default: %(default)s)')
    parser.add_argument('--workers', type=int, default=1,
                        help='processes generating frames (same files for any number)')
    parser.add_argument('--if-missing', action='store_true',
                        help='do nothing when the data set exists with the same arguments')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    kwargs = dict(num_train=args.num_train, num_val=args.num_val, seed=args.seed,
                  num_beams=args.num_beams, num_azimuth=args.num_azimuth,
                  objects_per_frame=tuple(args.objects), num_sweeps=args.num_sweeps,
                  sweep_interval=args.sweep_interval, workers=args.workers)
    if args.if_missing:
        if not ensure_synthetic_dataset(args.out_dir, verbose=True, **kwargs):
            print(f'[synthetic] {args.out_dir} is up to date')
    else:
        generate_synthetic_dataset(args.out_dir, verbose=True, **kwargs)


if __name__ == '__main__':
    main()
