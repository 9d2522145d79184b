from seeder.cli import main

main()
