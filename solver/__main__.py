from solver.entry import main

main()
