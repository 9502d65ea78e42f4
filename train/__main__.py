from train.main import run

run()
