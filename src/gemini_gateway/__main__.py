from gemini_gateway.cli import main

main()
