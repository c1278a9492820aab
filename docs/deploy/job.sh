#!/bin/sh
# A Slurm array job: each task stores its shard of LIST under OUT, as
# `variegate run` would store each image, and writes its results lines.
#
#   sbatch --array=0-7 --mem=4G --cpus-per-task=2 job.sh LIST PALETTES OUT
#
# The shard comes from SLURM_ARRAY_TASK_ID and the array's size. To rerun
# some tasks only, resubmit their ids with the original count:
#
#   SHARDS=8 sbatch --array=3,5 --mem=4G --cpus-per-task=2 job.sh LIST PALETTES OUT
#
# --resume makes a rerun (or Slurm's requeue after preemption) finish only
# what is left. VARIEGATE names the binary if it is not on PATH.
#SBATCH --job-name=variegate
#SBATCH --requeue
set -eu
list=$1 palettes=$2 out=$3
if [ -n "${SHARDS:-}" ]; then
  exec "${VARIEGATE:-variegate}" batch "$list" --palettes "$palettes" --out "$out" --resume -q \
    --shard "$SLURM_ARRAY_TASK_ID/$SHARDS"
fi
exec "${VARIEGATE:-variegate}" batch "$list" --palettes "$palettes" --out "$out" --resume -q
