from holdmusic.cli import main

main()
