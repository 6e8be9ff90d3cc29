"""Packaging for bev-losses.

The core (``import bev_losses``) needs only torch and MMEngine. The ``mmdet3d`` extra names the
full OpenMMLab stack that the heads, configs and tools use; mmcv must be built with its compiled
ops, which ``scripts/setup_env.sh`` does (see README).
"""
import os

from setuptools import find_packages, setup

here = os.path.dirname(os.path.abspath(__file__))
version = {}
with open(os.path.join(here, 'bev_losses', 'version.py')) as f:
    exec(f.read(), version)

with open(os.path.join(here, 'README.md'), encoding='utf-8') as f:
    long_description = f.read()

MMDET3D_STACK = [
    'numpy<2',
    'mmcv>=2.0.0rc4,<2.2.0',
    'mmdet==3.3.0',
    'mmdet3d==1.4.0',
]

setup(
    name='bev-losses',
    version=version['__version__'],
    description='Drop-in classification and regression losses for BEV 3D detectors in '
                'MMEngine / mmdet3d, with tools to train a small BEV head and compare them.',
    long_description=long_description,
    long_description_content_type='text/markdown',
    python_requires='>=3.8',
    packages=find_packages(include=['bev_losses', 'bev_losses.*']),
    install_requires=[
        'torch>=2.1',  # tested: 2.1.2 on Python 3.8 (scripts/test_oldest.sh), 2.13.0 on 3.11
        'mmengine>=0.10.0,<1.0',
    ],
    extras_require={
        'mmdet3d': MMDET3D_STACK,
        'test': MMDET3D_STACK + [
            'pytest>=7',
            'hypothesis>=6',
            'shapely>=2.0',
            'matplotlib',
        ],
    },
    classifiers=[
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
)
