7
$6ea0e3fa-6604-47d8-8e36-4ade7a486bcdÛ×¥.À"MEAN
output-0ÙÁÒ
¥2À"LOGISTIC"8
input-0$6ea0e3fa-6604-47d8-8e36-4ade7a486bcdää4ú‡ƒ@"U
$6ea0e3fa-6604-47d8-8e36-4ade7a486bcd$6ea0e3fa-6604-47d8-8e36-4ade7a486bcdœ:Eýä>ð¿"9
$6ea0e3fa-6604-47d8-8e36-4ade7a486bcdoutput-0Þy=óÀ:&
untrained-error0.15057189005964375:'
untrained-score-0.15112115528668327:
approachfine:
trainIDd2cd9738:
trainedYES:
error0.004974774013944765:
score-0.005557368065211575:
adjusted1 weight, 1 bias:"
	old-score-0.005954097665740331