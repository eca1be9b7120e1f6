"""Standard workloads of the bench suite, one module per family (gemm, resnet, bert, llm)."""
