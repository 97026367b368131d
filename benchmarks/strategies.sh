#!/usr/bin/env bash
# Strategy speed table: the four KL strategies trained from identical weights/batches on the reference
# conv VAE (Foster's Fashion-MNIST net: Conv 32/64/128 k3 s2, z=2, batch 128, 28x28x1; synthetic data).
#   bash benchmarks/strategies.sh [STEPS]
set -euo pipefail
steps="${1:-30}"
echo "uptime: $(uptime)"
TF_CPP_MIN_LOG_LEVEL=3 vaelab compare-strategies --dataset synthetic --set data.image_size=28 \
  --set 'model.filters=[32,64,128]' --set 'model.kernel_sizes=[3,3,3]' --set 'model.strides=[2,2,2]' \
  --set model.latent_dim=2 --set train.batch_size=128 --steps "$steps"
echo "uptime: $(uptime)"
