module example.com/berth/hello-go

go 1.19
