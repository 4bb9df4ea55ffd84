"""Evaluation: the held-out suite, generation backends, compile@k metrics, reports and human review.

Entry points: `run_eval` (evaluate.runner), `load_suite` (evaluate.suite), `create_app` (evaluate.review).
Heavy imports (torch, transformers, llama_cpp, openai) stay inside the backends that need them.
"""
