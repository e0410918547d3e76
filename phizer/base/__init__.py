"""What every layer may use: the exception tree (`errors`), the values that cross boundaries
(`models`), the one table of image formats (`formats`), the URL grammar and store keys
(`urls`), path safety and atomic writes (`paths`), resources made once per process
(`perprocess`), and boto3 clients with botocore's errors translated (`s3client`)."""
