"""Reinforcement learning with unit-test rewards (olmOCR 2's GRPO stage): rollouts, rewards, advantages, losses.

Nothing is imported here: the reward workers of a process pool import `vlm_ocr.rl.rewards` without torch.
"""
