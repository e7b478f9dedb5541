"""Commands that regenerate the package's assets and docs; nothing a training run imports.

python -m cpt_lightning.tools.pretrain_world_clip --out DIR   # the shipped world CLIP
python -m cpt_lightning.tools.world_zero_shot                 # docs/world.md's zero-shot table
python -m cpt_lightning.tools.world_report STUDY_DIR ...      # docs/results-world.md
"""
