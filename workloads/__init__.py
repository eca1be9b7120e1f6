"""The built-in workloads of bench, one module per family (gemm, resnet, bert, llm), installed as
``bench_workloads``: models defined in plain torch with synthetic inputs, so nothing is downloaded."""
