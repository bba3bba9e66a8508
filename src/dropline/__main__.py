from dropline.cli import main

main()
