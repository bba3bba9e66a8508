-- forget_drop: every key of the drop except its event journal (undrained events stay).
wipe_drop()
return 1
