from trainer.bench.cli import main

main()
